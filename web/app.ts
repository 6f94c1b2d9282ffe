// The admin dashboard: reads /admin/overview every few seconds and draws it; the Keys view also
// reads /admin/keys and creates, changes and revokes virtual keys. The admin key, when the
// gateway has one, is asked for once and kept in sessionStorage (this tab only). A new virtual
// key's secret lives only in the field that shows it, never in storage or the URL.

interface Minute { at: number; requests: number; errors: number; p50: number | null; p95: number | null }
interface Provider {
  name: string; model: string; priority: number; weight: number; enabled: boolean; preferred: boolean;
  usage: {
    requests: number; tokens: number; estimated_tokens: number; period_start: string; next_reset: string;
    limit_requests: number | null; limit_tokens: number | null; exhausted: boolean;
  };
  health: {
    state: 'ok' | 'cooling_down' | 'probing' | 'disabled'; cooldown_until: string | null; cooldown_reason: 'rate_limited' | 'failed' | null;
    cooldown_source: string | null; probe: 'none' | 'due' | 'in_flight'; consecutive_failures: number; last_error: string | null;
    last_latency_ms: number | null; interrupted_streams: number;
  };
  affinity: { served: number; pinned: number; share: number | null };
  traffic: Minute[];
}
interface Model { name: string; served: boolean; providers: Provider[] }
interface Recent {
  id: string; at: number; model: string; stream: boolean; status: number; provider: string | null;
  tries: Array<{ provider: string; result: string; ms: number }>; latencyMs: number; tokens: number | null; tokensEstimated: boolean; interrupted: boolean;
}
interface Overview { now: string; store: { kind: string; healthy: boolean; stored_responses: { count: number; bytes: number } | null }; draining: boolean; models: Model[]; recent: Recent[] }
interface RateLimit { requests_per_period: number | null; tokens_per_period: number | null; cost_per_period: number | null; period_cron: string }
interface KeyPeriodUsage { requests: number; tokens: number; estimated_tokens: number; cost: number | null; unpriced_requests: number; last_reset: string; next_reset: string }
interface KeySettings { name: string; models: string[] | null; rate_limit: RateLimit | null; max_concurrent: number | null; expires_at: string | null; metadata: Record<string, unknown> | null }
interface KeyView extends KeySettings {
  id: string; status: 'active' | 'revoked' | 'expired'; created_at: string; updated_at: string; revoked_at: string | null; usage: KeyPeriodUsage | null;
}
interface ApiError { error?: { message?: string; param?: string | null } }
type View = 'providers' | 'keys';

const KEY = 'gateway-admin-key';
const REFRESH_MS = 3000;
const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

let timer: number | undefined;
let view: View = location.hash === '#keys' ? 'keys' : 'providers';
/** The configured model names, from the latest overview: the choices of a key's models. */
let modelNames: string[] = [];

function key(): string | null {
  return sessionStorage.getItem(KEY);
}

async function api(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const k = key();
  if (k) headers.set('authorization', `Bearer ${k}`);
  return fetch(path, { ...init, headers });
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: Array<Node | string | null>): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) if (c !== null) e.append(c);
  return e;
}

function time(iso: string | number): string {
  return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

function dateTime(iso: string): string {
  return new Date(iso).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

function showLogin(message: string | null): void {
  if (timer !== undefined) window.clearInterval(timer);
  timer = undefined;
  closeSecret();
  closeKeyForm();
  $('main').hidden = true;
  $('actions').hidden = true;
  $('login').hidden = false;
  $('status').textContent = '';
  const err = $('login-error');
  err.hidden = message === null;
  err.textContent = message ?? '';
  $<HTMLInputElement>('key').focus();
}

async function refresh(): Promise<void> {
  let res: Response;
  try {
    res = await api('/admin/overview');
  } catch {
    $('status').textContent = `Gateway unreachable (retrying every ${REFRESH_MS / 1000} s)`;
    return;
  }
  if (res.status === 401) {
    signedOut();
    return;
  }
  if (!res.ok) {
    $('status').textContent = `The gateway answered ${res.status}`;
    return;
  }
  const data = (await res.json()) as Overview;
  $('login').hidden = true;
  $('main').hidden = false;
  $('actions').hidden = false;
  render(data);
  if (timer === undefined) timer = window.setInterval(() => void refresh(), REFRESH_MS);
  if (view === 'keys') await refreshKeys();
}

/** The key was refused: forgotten, and asked for again. */
function signedOut(): void {
  const hadKey = key() !== null;
  sessionStorage.removeItem(KEY);
  showLogin(hadKey ? 'Wrong key.' : null);
}

function showView(v: View): void {
  view = v;
  $('view-providers').hidden = v !== 'providers';
  $('view-keys').hidden = v !== 'keys';
  for (const tab of document.querySelectorAll<HTMLButtonElement>('#tabs [data-view]')) tab.setAttribute('aria-selected', String(tab.dataset['view'] === v));
  history.replaceState(null, '', v === 'keys' ? '#keys' : `${location.pathname}${location.search}`);
}

function render(o: Overview): void {
  const unserved = o.models.filter((m) => !m.providers.some((p) => p.health.state === 'ok' && !p.usage.exhausted)).length;
  const parts = [`Updated ${time(o.now)}`, `usage store: ${o.store.kind} ${o.store.healthy ? 'ok' : 'UNREACHABLE'}`];
  const sr = o.store.stored_responses;
  if (sr && sr.count > 0) parts.push(`${sr.count} stored response(s), ${(sr.bytes / 1048576).toFixed(1)} MiB`);
  if (o.draining) parts.push('draining');
  parts.push(unserved === 0 ? `${o.models.length} model(s), all served` : `${unserved} of ${o.models.length} model(s) without a healthy provider`);
  $('status').textContent = parts.join(' · ');
  modelNames = o.models.map((m) => m.name);
  $('models').replaceChildren(...o.models.map(modelCard));
  renderRecent(o.recent);
}

function modelCard(m: Model): HTMLElement {
  const healthy = m.providers.filter((p) => p.health.state === 'ok' && !p.usage.exhausted).length;
  const badge = !m.served
    ? el('span', { class: 'badge off' }, 'no enabled provider')
    : healthy > 0 ? el('span', { class: 'badge ok' }, `${healthy} of ${m.providers.length} healthy`) : el('span', { class: 'badge bad' }, 'no healthy provider');
  return el('article', { class: 'model', 'data-model': m.name },
    el('div', { class: 'model-head' }, el('h2', {}, m.name), badge),
    el('div', { class: 'providers' }, ...m.providers.map((p) => providerCard(m.name, p))));
}

function providerCard(model: string, p: Provider): HTMLElement {
  const cls = p.health.state === 'disabled' ? 'disabled' : p.health.state === 'cooling_down' ? 'cooling' : p.usage.exhausted ? 'exhausted' : 'ok';
  const state = p.health.state === 'disabled'
    ? el('span', { class: 'badge off' }, 'disabled')
    : p.health.state === 'cooling_down'
      ? el('span', { class: 'badge cooling', 'data-state': 'cooling' }, `${p.health.cooldown_reason === 'rate_limited' ? 'rate-limited' : 'cooling down'} until ${time(p.health.cooldown_until ?? '')}${p.health.cooldown_source ? ` (${p.health.cooldown_source})` : ''}`)
      : p.health.state === 'probing' ? el('span', { class: 'badge cooling', 'data-state': 'probing' }, 'probing: one request is trying it')
      : p.usage.exhausted ? el('span', { class: 'badge exhausted' }, 'quota used up') : el('span', { class: 'badge ok', 'data-state': 'ok' }, 'ok');
  const reset = el('button', { class: 'small quiet', type: 'button' }, 'Reset usage');
  reset.addEventListener('click', () => void resetUsage(model, p.name));
  const last = p.traffic.at(-1);
  const lastFull = p.traffic.at(-2);
  const perMin = (last?.requests ?? 0) || (lastFull?.requests ?? 0);
  const window5 = p.traffic.slice(-5);
  const tries = window5.reduce((s, x) => s + x.requests, 0);
  const errors = window5.reduce((s, x) => s + x.errors, 0);
  const p50 = [...p.traffic].reverse().find((x) => x.p50 !== null);
  return el('section', { class: `provider ${cls}`, 'data-provider': p.name },
    el('div', { class: 'name' }, p.name, state, p.preferred ? el('span', { class: 'badge pref' }, 'preferred') : null),
    el('div', { class: 'meta' }, `priority ${p.priority} · weight ${p.weight} · ${p.model}${p.health.last_latency_ms !== null ? ` · last ${Math.round(p.health.last_latency_ms)} ms` : ''}`),
    bar('requests', p.usage.requests, p.usage.limit_requests),
    bar('tokens', p.usage.tokens, p.usage.limit_tokens, estimatedTokens(p.usage.estimated_tokens)),
    el('div', { class: 'meta' }, `period from ${dateTime(p.usage.period_start)} · next reset ${dateTime(p.usage.next_reset)}`),
    el('div', { class: 'traffic' }, sparkline(p.traffic),
      el('span', {}, `${perMin}/min · errors ${tries === 0 ? '0' : Math.round((errors / tries) * 100)}% (5 min)` +
        (p50 ? ` · p50 ${p50.p50} ms · p95 ${p50.p95} ms` : ''))),
    el('div', { class: 'meta', 'data-agent': '' }, agentLine(p)),
    p.health.last_error ? el('div', { class: 'last-error' }, `last error: ${p.health.last_error} (${p.health.consecutive_failures} in a row)`) : null,
    el('div', {}, reset));
}

/** What agents care about (SPEC §9): the share of requests sent by a session's pin, streams cut short, the probe after a cooldown. */
function agentLine(p: Provider): string {
  const share = p.affinity.share === null ? 'affinity –' : `affinity ${Math.round(p.affinity.share * 100)}% of ${p.affinity.served}`;
  const probe = p.health.probe === 'due' ? ' · probe due' : p.health.probe === 'in_flight' ? ' · probing' : '';
  return `${share} · interrupted streams ${p.health.interrupted_streams}${probe}`;
}

interface BarNote { prefix: string; title: string }

function estimatedTokens(estimated: number): BarNote | null {
  return estimated > 0 ? { prefix: '≈', title: 'includes tokens estimated by the gateway' } : null;
}

/** Use against a limit; `used` null: unknown. A limit of 0 is full from the start. */
function bar(label: string, used: number | null, limit: number | null, note: BarNote | null = null, fmt: (n: number) => string = (n) => n.toLocaleString()): HTMLElement {
  const share = limit === null || used === null ? 0 : limit === 0 ? 1 : Math.min(1, used / limit);
  const cls = limit === null ? 'bar' : share >= 1 ? 'bar full' : share >= 0.8 ? 'bar high' : 'bar';
  const text = `${note?.prefix ?? ''}${used === null ? 'unknown' : fmt(used)}${limit === null ? ' (no limit)' : ` / ${fmt(limit)}`}`;
  const fill = el('div', { class: 'fill' });
  // CSSOM, not a style attribute: the page's CSP (style-src 'self') allows only this.
  fill.style.width = `${Math.round(share * 100)}%`;
  return el('div', { class: cls, 'data-bar': label, title: note?.title ?? '' },
    el('div', { class: 'label' }, el('span', {}, label), el('span', { class: 'value' }, text)),
    el('div', { class: 'track' }, fill));
}

/** Requests per minute over the last minutes, errors in red. */
function sparkline(minutes: Minute[]): SVGElement {
  const w = 90;
  const h = 22;
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('width', String(w));
  svg.setAttribute('height', String(h));
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.setAttribute('aria-label', 'requests per minute');
  const max = Math.max(1, ...minutes.map((m) => m.requests));
  const step = w / Math.max(1, minutes.length);
  minutes.forEach((m, i) => {
    for (const [value, color] of [[m.requests, '#3056d3'], [m.errors, '#c53030']] as const) {
      if (value === 0) continue;
      const r = document.createElementNS(ns, 'rect');
      const bh = Math.max(1, (value / max) * (h - 2));
      r.setAttribute('x', String(i * step + 1));
      r.setAttribute('y', String(h - bh));
      r.setAttribute('width', String(Math.max(1, step - 2)));
      r.setAttribute('height', String(bh));
      r.setAttribute('fill', color);
      svg.append(r);
    }
  });
  return svg;
}

function renderRecent(recent: Recent[]): void {
  const rows = recent.map((r) => {
    const providers = new Set(r.tries.map((t) => t.provider));
    const cls = r.status >= 500 ? 'failed' : providers.size > 1 ? 'failover' : '';
    const tries = el('td', {}, ...r.tries.map((t) => el('span', { class: `try ${/^2/.test(t.result) ? 'ok' : 'err'}` }, `${t.provider} ${t.result}`)));
    return el('tr', { class: cls },
      el('td', {}, time(r.at)),
      el('td', { title: r.id }, r.id.slice(0, 8)),
      el('td', {}, `${r.model}${r.stream ? ' (stream)' : ''}${r.interrupted ? ' · interrupted' : ''}`),
      tries,
      el('td', {}, String(r.status)),
      el('td', {}, `${r.latencyMs} ms`),
      el('td', {}, r.tokens === null ? '–' : `${r.tokensEstimated ? '≈' : ''}${r.tokens}`));
  });
  const body = $('recent').querySelector('tbody');
  body?.replaceChildren(...(rows.length > 0 ? rows : [el('tr', {}, el('td', { colspan: '7' }, 'No requests yet.'))]));
}

function notice(text: string, items: string[] = [], bad = false): void {
  const n = $('notice');
  n.hidden = false;
  n.className = bad ? 'notice bad' : 'notice';
  n.replaceChildren(text, ...(items.length > 0 ? [el('ul', {}, ...items.map((i) => el('li', {}, i)))] : []));
}

async function reloadConfig(): Promise<void> {
  const res = await api('/admin/reload', { method: 'POST' });
  const body = (await res.json()) as { changes?: { models: Record<string, string[]>; providers: Record<string, string[]> }; error?: { message: string; errors?: string[] } };
  if (res.ok && body.changes) {
    const c = body.changes;
    const items = [
      ...(['added', 'removed', 'changed'] as const).flatMap((k) => (c.models[k]?.length ? [`models ${k}: ${c.models[k]!.join(', ')}`] : [])),
      ...(['added', 'removed', 'changed'] as const).flatMap((k) => (c.providers[k]?.length ? [`providers ${k}: ${c.providers[k]!.join(', ')}`] : [])),
    ];
    notice(items.length > 0 ? 'Configuration reloaded.' : 'Configuration reloaded: nothing changed.', items);
  } else {
    notice(body.error?.message ?? `Reload failed (${res.status})`, body.error?.errors ?? [], true);
  }
  await refresh();
}

async function resetUsage(model: string, provider: string): Promise<void> {
  if (!window.confirm(`Reset the usage of ${provider} (${model}) for the current period?`)) return;
  const res = await api('/admin/usage/reset', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, provider }) });
  if (res.ok) notice(`Usage of ${provider} (${model}) reset.`);
  else notice(`Reset failed (${res.status})`, [], true);
  await refresh();
}

// ---- Keys view -------------------------------------------------------------------------------

const DEFAULT_CRON = '0 0 * * *';
/** The key being edited; null while the form creates one. */
let editing: KeyView | null = null;
/** Answers of an older poll that arrive after a newer one are dropped. */
let keysSeq = 0;

const input = (id: string): HTMLInputElement => $<HTMLInputElement>(id);

/** USD with 2 to 4 decimals; an amount too small for that says so rather than reading `$0.00`. */
function usd(n: number): string {
  if (n > 0 && n < 0.0001) return '< $0.0001';
  return `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 4 })}`;
}

async function refreshKeys(): Promise<void> {
  const seq = ++keysSeq;
  let res: Response;
  try {
    res = await api('/admin/keys');
  } catch {
    $('keys-status').textContent = 'Gateway unreachable: the keys below may be out of date.';
    return;
  }
  if (seq !== keysSeq) return;
  if (res.status === 401) {
    signedOut();
    return;
  }
  const body = (await res.json().catch(() => null)) as ({ data?: KeyView[] } & ApiError) | null;
  if (seq !== keysSeq) return;
  if (!res.ok || !body?.data) {
    $('keys-status').textContent = body?.error?.message ?? `The gateway answered ${res.status}`;
    return;
  }
  const keys = body.data;
  const active = keys.filter((k) => k.status === 'active').length;
  $('keys-status').textContent = `${keys.length} key(s), ${active} active · updated ${time(Date.now())}`;
  const rows = keys.map(keyRow);
  $('keys').querySelector('tbody')?.replaceChildren(...(rows.length > 0 ? rows : [el('tr', {}, el('td', { colspan: '8', class: 'empty' }, 'No keys yet.'))]));
}

function keyRow(k: KeyView): HTMLTableRowElement {
  const rl = k.rate_limit;
  const u = k.usage;
  const actions = el('div', { class: 'key-actions' });
  if (k.status !== 'revoked') {
    const edit = el('button', { class: 'small quiet', type: 'button', 'data-action': 'edit' }, 'Edit');
    edit.addEventListener('click', () => openKeyForm(k));
    const revoke = el('button', { class: 'small danger', type: 'button', 'data-action': 'revoke' }, 'Revoke');
    revoke.addEventListener('click', () => void revokeKey(k));
    actions.append(edit, revoke);
  }
  const meta = k.metadata === null ? null : JSON.stringify(k.metadata);
  const limits = rl === null ? [] : [
    rl.requests_per_period === null ? null : `${rl.requests_per_period.toLocaleString()} requests`,
    rl.tokens_per_period === null ? null : `${rl.tokens_per_period.toLocaleString()} tokens`,
    rl.cost_per_period === null ? null : usd(rl.cost_per_period),
  ].filter((x): x is string => x !== null);
  const usage = u === null
    ? [el('span', { class: 'meta' }, 'unavailable (usage store unreachable)')]
    : [
        bar('requests', u.requests, rl?.requests_per_period ?? null),
        bar('tokens', u.tokens, rl?.tokens_per_period ?? null, estimatedTokens(u.estimated_tokens)),
        bar('cost', u.cost, rl?.cost_per_period ?? null,
          u.unpriced_requests > 0 ? { prefix: u.cost === null ? '' : '≥ ', title: `${u.unpriced_requests} request(s) without a known price` } : null, usd),
        el('div', { class: 'meta', 'data-col': 'reset' }, `since ${dateTime(u.last_reset)} · next reset ${dateTime(u.next_reset)}`),
      ];
  return el('tr', { class: k.status === 'active' ? 'key' : 'key inactive', 'data-key': k.name, 'data-key-id': k.id },
    el('td', { 'data-col': 'name' },
      el('div', { class: 'key-name' }, k.name),
      el('div', { class: 'meta' }, k.id),
      meta === null ? null : el('div', { class: 'meta metadata', title: meta }, meta.length > 80 ? `${meta.slice(0, 80)}…` : meta)),
    el('td', { 'data-col': 'status' }, statusBadge(k)),
    el('td', { 'data-col': 'models', class: 'wrap' }, k.models === null ? 'all' : k.models.join(', ')),
    el('td', { 'data-col': 'limits', class: 'wrap' },
      el('div', {}, rl === null || limits.length === 0 ? 'no limit' : `${limits.join(' · ')} per period`),
      rl === null ? null : el('div', { class: 'meta' }, `period: ${rl.period_cron}`)),
    el('td', { 'data-col': 'concurrent' }, k.max_concurrent === null ? 'no limit' : k.max_concurrent.toLocaleString()),
    el('td', { 'data-col': 'expires', title: k.expires_at ?? '' }, k.expires_at === null ? 'never' : dateTime(k.expires_at)),
    el('td', { 'data-col': 'usage' }, el('div', { class: 'usage' }, ...usage)),
    el('td', {}, actions));
}

function statusBadge(k: KeyView): HTMLElement {
  if (k.status === 'revoked') return el('span', { class: 'badge off', 'data-status': 'revoked', title: k.revoked_at ? `revoked ${dateTime(k.revoked_at)}` : '' }, 'revoked');
  if (k.status === 'expired') return el('span', { class: 'badge bad', 'data-status': 'expired' }, 'expired');
  const u = k.usage;
  const rl = k.rate_limit;
  const over = (used: number | null | undefined, limit: number | null | undefined) => used != null && limit != null && used >= limit;
  const full = u !== null && rl !== null && (over(u.requests, rl.requests_per_period) || over(u.tokens, rl.tokens_per_period) || over(u.cost, rl.cost_per_period));
  return full
    ? el('span', { class: 'badge exhausted', 'data-status': 'active', title: 'a limit is reached until the next reset' }, 'active · limit reached')
    : el('span', { class: 'badge ok', 'data-status': 'active' }, 'active');
}

/** Opens the form to create a key (`k` null) or to change `k`. */
function openKeyForm(k: KeyView | null): void {
  closeSecret();
  editing = k;
  $<HTMLFormElement>('key-form').reset();
  formError(null);
  $('key-form-title').textContent = k ? `Edit key ${k.name}` : 'New key';
  $('kf-submit').textContent = k ? 'Save changes' : 'Create key';
  // A key may name models the configuration no longer has: offered too, so saving keeps them.
  const chosen = new Set(k?.models ?? []);
  $('kf-models').replaceChildren(...[...new Set([...modelNames, ...chosen])].map((name) => {
    const box = el('input', { type: 'checkbox', value: name });
    box.checked = chosen.has(name);
    return el('label', { class: 'check' }, box, name);
  }));
  if (k) {
    const rl = k.rate_limit;
    input('kf-name').value = k.name;
    input('kf-requests').value = rl?.requests_per_period?.toString() ?? '';
    input('kf-tokens').value = rl?.tokens_per_period?.toString() ?? '';
    input('kf-cost').value = rl?.cost_per_period?.toString() ?? '';
    input('kf-cron').value = rl?.period_cron ?? DEFAULT_CRON;
    input('kf-concurrent').value = k.max_concurrent?.toString() ?? '';
    input('kf-expires').value = k.expires_at === null ? '' : localDateTime(k.expires_at);
    $<HTMLTextAreaElement>('kf-metadata').value = k.metadata === null ? '' : JSON.stringify(k.metadata, null, 2);
  }
  $('key-form-panel').hidden = false;
  input('kf-name').focus();
}

function closeKeyForm(): void {
  editing = null;
  $('key-form-panel').hidden = true;
  $<HTMLFormElement>('key-form').reset();
  formError(null);
}

/** An ISO time as a datetime-local value, in the browser's zone. */
function localDateTime(iso: string): string {
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

class FormProblem extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

/** The API's `param` of a refused setting → the form field that holds it. */
const FIELD_OF: ReadonlyArray<[RegExp, string]> = [
  [/^name/, 'kf-name'], [/^models/, 'kf-models-set'], [/^rate_limit\.requests/, 'kf-requests'], [/^rate_limit\.tokens/, 'kf-tokens'],
  [/^rate_limit\.cost/, 'kf-cost'], [/^rate_limit/, 'kf-cron'], [/^max_concurrent/, 'kf-concurrent'], [/^expires_at/, 'kf-expires'], [/^metadata/, 'kf-metadata'],
];

function formError(message: string | null, field: string | null = null): void {
  for (const e of $('key-form').querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
  const err = $('kf-error');
  err.hidden = message === null;
  err.textContent = message ?? '';
  if (field) {
    const target = $(field);
    target.setAttribute('aria-invalid', 'true');
    target.focus();
  }
}

function numberField(id: string, label: string, min: number, integer: boolean): number | null {
  const box = input(id);
  const raw = box.value.trim();
  if (raw === '') {
    if (box.validity.badInput) throw new FormProblem(id, `${label}: not a number`);
    return null;
  }
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) throw new FormProblem(id, `${label}: must be ${integer ? 'a whole number' : 'a number'} of at least ${min}, or empty for no limit`);
  return n;
}

/** Every setting as the form has it; throws a FormProblem for what cannot be sent at all. */
function readKeyForm(): KeySettings {
  const name = input('kf-name').value.trim();
  if (name === '') throw new FormProblem('kf-name', 'name: required');
  const models = [...$('kf-models').querySelectorAll<HTMLInputElement>('input[type=checkbox]:checked')].map((b) => b.value);
  const requests = numberField('kf-requests', 'requests per period', 0, true);
  const tokens = numberField('kf-tokens', 'tokens per period', 0, true);
  const cost = numberField('kf-cost', 'cost per period', 0, false);
  const cron = input('kf-cron').value.trim() || DEFAULT_CRON;
  const concurrent = numberField('kf-concurrent', 'max concurrent requests', 1, true);
  const expiresBox = input('kf-expires');
  if (expiresBox.validity.badInput) throw new FormProblem('kf-expires', 'expires at: incomplete date and time');
  let expires: string | null = null;
  if (expiresBox.value !== '') {
    const at = new Date(expiresBox.value); // datetime-local: the browser's zone
    if (Number.isNaN(at.getTime())) throw new FormProblem('kf-expires', 'expires at: not a valid date and time');
    expires = at.toISOString();
  }
  const metaText = $<HTMLTextAreaElement>('kf-metadata').value.trim();
  let metadata: Record<string, unknown> | null = null;
  if (metaText !== '') {
    let v: unknown;
    try {
      v = JSON.parse(metaText);
    } catch (e) {
      throw new FormProblem('kf-metadata', `metadata: not valid JSON (${(e as Error).message})`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new FormProblem('kf-metadata', 'metadata: must be a JSON object, e.g. {"team": "search"}');
    metadata = v as Record<string, unknown>;
  }
  return {
    name,
    models: models.length > 0 ? models : null,
    rate_limit: limitOf({ requests_per_period: requests, tokens_per_period: tokens, cost_per_period: cost, period_cron: cron }),
    max_concurrent: concurrent,
    expires_at: expires,
    metadata,
  };
}

/** No limits on the default period is no rate limit at all: the two read the same. */
function limitOf(rl: RateLimit | null): RateLimit | null {
  if (rl === null) return null;
  const none = rl.requests_per_period === null && rl.tokens_per_period === null && rl.cost_per_period === null && rl.period_cron === DEFAULT_CRON;
  return none ? null : { requests_per_period: rl.requests_per_period, tokens_per_period: rl.tokens_per_period, cost_per_period: rl.cost_per_period, period_cron: rl.period_cron };
}

/** The settings the form changes on `k`: a PATCH sends only these. */
function changesOf(k: KeyView, s: KeySettings): Partial<KeySettings> {
  const out: Partial<KeySettings> = {};
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const sorted = (m: string[] | null) => (m === null ? null : [...m].sort());
  // The form holds whole seconds.
  const second = (iso: string | null) => (iso === null ? null : Math.floor(Date.parse(iso) / 1000));
  if (s.name !== k.name) out.name = s.name;
  if (!same(sorted(s.models), sorted(k.models))) out.models = s.models;
  if (!same(s.rate_limit, limitOf(k.rate_limit))) out.rate_limit = s.rate_limit;
  if (s.max_concurrent !== k.max_concurrent) out.max_concurrent = s.max_concurrent;
  if (second(s.expires_at) !== second(k.expires_at)) out.expires_at = s.expires_at;
  if (!same(s.metadata, k.metadata)) out.metadata = s.metadata;
  return out;
}

async function submitKeyForm(): Promise<void> {
  let settings: KeySettings;
  try {
    settings = readKeyForm();
  } catch (e) {
    if (!(e instanceof FormProblem)) throw e;
    formError(e.message, e.field);
    return;
  }
  const current = editing;
  let body: Partial<KeySettings>;
  if (current) {
    body = changesOf(current, settings);
    if (Object.keys(body).length === 0) {
      closeKeyForm();
      notice(`Key ${current.name}: nothing changed.`);
      return;
    }
  } else {
    body = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== null));
  }
  const submit = $<HTMLButtonElement>('kf-submit');
  submit.disabled = true;
  let res: Response;
  try {
    res = await api(current ? `/admin/keys/${encodeURIComponent(current.id)}` : '/admin/keys', {
      method: current ? 'PATCH' : 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
  } catch {
    formError('The gateway could not be reached. Look at the list before trying again.');
    return;
  } finally {
    submit.disabled = false;
  }
  if (res.status === 401) {
    signedOut();
    return;
  }
  const answer = (await res.json().catch(() => null)) as (KeyView & { key?: string } & ApiError) | null;
  if (!res.ok || answer === null) {
    const param = answer?.error?.param ?? '';
    formError(answer?.error?.message ?? `The gateway answered ${res.status}`, FIELD_OF.find(([re]) => re.test(param))?.[1] ?? null);
    return;
  }
  closeKeyForm();
  if (current) notice(`Key ${answer.name} saved.`);
  else showSecret(answer.name, answer.key ?? '');
  await refreshKeys();
}

function showSecret(name: string, secret: string): void {
  $('key-secret-title').textContent = `Key ${name} created`;
  // The value property, not the attribute: it is never part of the page's markup.
  input('key-secret-value').value = secret;
  $('key-secret-copied').textContent = '';
  $('key-secret').hidden = false;
  input('key-secret-value').focus();
}

function closeSecret(): void {
  input('key-secret-value').value = '';
  $('key-secret-copied').textContent = '';
  $('key-secret-title').textContent = 'Key created';
  $('key-secret').hidden = true;
}

async function copySecret(): Promise<void> {
  const box = input('key-secret-value');
  try {
    await navigator.clipboard.writeText(box.value);
    $('key-secret-copied').textContent = 'Copied to the clipboard.';
  } catch {
    box.focus();
    box.select();
    $('key-secret-copied').textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
  }
}

async function revokeKey(k: KeyView): Promise<void> {
  if (!window.confirm(`Revoke the key ${k.name}? Requests with it are refused from now on. This cannot be undone.`)) return;
  let res: Response;
  try {
    res = await api(`/admin/keys/${encodeURIComponent(k.id)}`, { method: 'DELETE' });
  } catch {
    notice('The gateway could not be reached: the key may not be revoked.', [], true);
    return;
  }
  if (res.status === 401) {
    signedOut();
    return;
  }
  if (res.ok) {
    if (editing?.id === k.id) closeKeyForm();
    notice(`Key ${k.name} revoked.`);
  } else {
    const body = (await res.json().catch(() => null)) as ApiError | null;
    notice(body?.error?.message ?? `Revoking failed (${res.status})`, [], true);
  }
  await refreshKeys();
}

function wireKeys(): void {
  const offset = -new Date().getTimezoneOffset();
  const hm = `${String(Math.floor(Math.abs(offset) / 60)).padStart(2, '0')}:${String(Math.abs(offset) % 60).padStart(2, '0')}`;
  $('kf-tz').textContent = `(your time, UTC${offset < 0 ? '−' : '+'}${hm}; empty: never)`;
  $('key-new').addEventListener('click', () => openKeyForm(null));
  $('kf-cancel').addEventListener('click', closeKeyForm);
  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void submitKeyForm();
  });
  $('key-secret-close').addEventListener('click', closeSecret);
  $('key-secret-copy').addEventListener('click', () => void copySecret());
  input('key-secret-value').addEventListener('focus', () => input('key-secret-value').select());
}

/** Asks for the key first when the gateway needs one and this tab has none, so no request fails. */
async function start(): Promise<void> {
  try {
    const session = (await (await fetch('/admin/ui/session')).json()) as { keyRequired: boolean };
    if (session.keyRequired && key() === null) {
      showLogin(null);
      return;
    }
  } catch {
    /* refresh() says the gateway is unreachable */
  }
  await refresh();
}

$('login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const value = $<HTMLInputElement>('key').value.trim();
  if (!value) return;
  sessionStorage.setItem(KEY, value);
  void refresh();
});
$('reload').addEventListener('click', () => void reloadConfig());
$('logout').addEventListener('click', () => {
  sessionStorage.removeItem(KEY);
  showLogin(null);
});
for (const tab of document.querySelectorAll<HTMLButtonElement>('#tabs [data-view]')) {
  tab.addEventListener('click', () => {
    const v: View = tab.dataset['view'] === 'keys' ? 'keys' : 'providers';
    showView(v);
    if (v === 'keys') void refreshKeys();
  });
}
wireKeys();
showView(view);
void start();
