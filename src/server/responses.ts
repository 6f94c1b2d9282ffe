import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { responseNotFound, responseStoreUnavailable } from '../errors.js';
import { isObject, type Json } from '../protocols/json.js';
import { responsesFormat, type FinishedResponse } from '../protocols/responses.js';
import { presentedKey } from './auth.js';
import { handleProxied, type ProxiedDeps } from './proxied.js';

export type ResponsesDeps = ProxiedDeps;

/** What a stored response keeps: the response, and the conversation a continuation starts from. */
interface Stored {
  response: Json;
  conversation: Json[];
}

/** Response ids (the gateway makes `resp_` + 32 hex digits; native providers their own): anything else is none. */
const RESPONSE_ID = /^resp_[A-Za-z0-9]{8,128}$/;

/**
 * The Responses surface (SPEC §7): `POST /v1/responses`, translated to chat for every provider,
 * and the stored responses behind `previous_response_id`, `GET` and `DELETE /v1/responses/{id}`:
 * each readable only with the key that made it. Errors come in OpenAI's shape.
 */
export function registerResponsesRoutes(app: FastifyInstance, deps: ResponsesDeps): void {
  const format = responsesFormat();
  const config = { format };
  const store = () => deps.quota.store.responses;

  app.post('/v1/responses', { config }, (request, reply) => deps.inflight.track((async () => {
    const owner = ownerOf(request);
    const body = request.body;
    const previous = isObject(body) ? body.previous_response_id : undefined;
    let history: Json[] = [];
    if (typeof previous === 'string' && previous !== '') history = (await load(previous, owner)).conversation;
    const perRequest = responsesFormat({ history, onFinished: (f) => keep(f, owner) });
    return handleProxied(perRequest, request, reply, deps);
  })()));

  app.get<{ Params: { id: string } }>('/v1/responses/:id', { config }, async (request) => (await load(request.params.id, ownerOf(request))).response);

  app.delete<{ Params: { id: string } }>('/v1/responses/:id', { config }, async (request) => {
    const id = request.params.id;
    const deleted = RESPONSE_ID.test(id) && await fromStore(store().delete(id, ownerOf(request)));
    if (!deleted) throw responseNotFound(id);
    return { id, object: 'response', deleted: true };
  });

  async function load(id: string, owner: string): Promise<Stored> {
    if (!RESPONSE_ID.test(id)) throw responseNotFound(id);
    const text = await fromStore(store().get(id, owner));
    if (text === null) throw responseNotFound(id);
    return JSON.parse(text) as Stored;
  }

  /** Stores a finished response when the client asked (`store`, default true): written before the answer's last byte leaves. */
  function keep(f: FinishedResponse, owner: string): void {
    if (!f.request.store) return;
    const g = deps.config().global;
    const id = f.response.id as string;
    const text = JSON.stringify({ response: f.response, conversation: f.conversation } satisfies Stored);
    // Wall-clock time, as the store compares expiry with it.
    const limits = { expiresAt: Date.now() + g.responses_ttl_seconds * 1000, maxBytes: g.responses_max_bytes };
    // A conversation that could not be sent in one request body cannot be continued either (and is never parsed whole).
    if (text.length > g.max_body_bytes) {
      deps.log.logger.warn({ id, bytes: text.length }, 'WARN response not stored: its conversation is larger than max_body_bytes');
      return;
    }
    void deps.inflight.track(store().put(id, owner, text, limits).then((kept) => {
      if (!kept) deps.log.logger.warn({ id, bytes: text.length }, 'WARN response not stored: larger than responses_max_bytes');
    }, (err: Error) => {
      deps.log.logger.error({ id, err: err.message }, 'ERROR response not stored: usage store unavailable');
    }));
  }
}

/** Whose a stored response is: a hash of the key that made it ('' when the gateway has no key). */
function ownerOf(request: FastifyRequest): string {
  const key = presentedKey(request);
  return key === null ? '' : createHash('sha256').update(key).digest('hex').slice(0, 32);
}

async function fromStore<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch {
    throw responseStoreUnavailable();
  }
}
