// The admin dashboard: reads /admin/overview every few seconds and draws it. The key, when the
// gateway has one, is asked for once and kept in sessionStorage (this tab only).

interface Minute { at: number; requests: number; errors: number; p50: number | null; p95: number | null }
interface Provider {
  name: string; model: string; priority: number; weight: number; enabled: boolean; preferred: boolean;
  usage: {
    requests: number; tokens: number; estimated_tokens: number; period_start: string; next_reset: string;
    limit_requests: number | null; limit_tokens: number | null; exhausted: boolean;
  };
  health: { state: 'ok' | 'cooling_down' | 'disabled'; cooldown_until: string | null; consecutive_failures: number; last_error: string | null; last_latency_ms: number | null };
  traffic: Minute[];
}
interface Model { name: string; served: boolean; providers: Provider[] }
interface Recent {
  id: string; at: number; model: string; stream: boolean; status: number; provider: string | null;
  tries: Array<{ provider: string; result: string; ms: number }>; latencyMs: number; tokens: number | null; tokensEstimated: boolean;
}
interface Overview { now: string; store: { kind: string; healthy: boolean; stored_responses: { count: number; bytes: number } | null }; draining: boolean; models: Model[]; recent: Recent[] }

const KEY = 'gateway-admin-key';
const REFRESH_MS = 3000;
const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

let timer: number | undefined;

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
    const hadKey = key() !== null;
    sessionStorage.removeItem(KEY);
    showLogin(hadKey ? 'Wrong key.' : null);
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
}

function render(o: Overview): void {
  const unserved = o.models.filter((m) => !m.providers.some((p) => p.health.state === 'ok' && !p.usage.exhausted)).length;
  const parts = [`Updated ${time(o.now)}`, `usage store: ${o.store.kind} ${o.store.healthy ? 'ok' : 'UNREACHABLE'}`];
  const sr = o.store.stored_responses;
  if (sr && sr.count > 0) parts.push(`${sr.count} stored response(s), ${(sr.bytes / 1048576).toFixed(1)} MiB`);
  if (o.draining) parts.push('draining');
  parts.push(unserved === 0 ? `${o.models.length} model(s), all served` : `${unserved} of ${o.models.length} model(s) without a healthy provider`);
  $('status').textContent = parts.join(' · ');
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
      ? el('span', { class: 'badge cooling', 'data-state': 'cooling' }, `cooling down until ${time(p.health.cooldown_until ?? '')}`)
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
    bar('requests', p.usage.requests, p.usage.limit_requests, false),
    bar('tokens', p.usage.tokens, p.usage.limit_tokens, p.usage.estimated_tokens > 0),
    el('div', { class: 'meta' }, `period from ${dateTime(p.usage.period_start)} · next reset ${dateTime(p.usage.next_reset)}`),
    el('div', { class: 'traffic' }, sparkline(p.traffic),
      el('span', {}, `${perMin}/min · errors ${tries === 0 ? '0' : Math.round((errors / tries) * 100)}% (5 min)` +
        (p50 ? ` · p50 ${p50.p50} ms · p95 ${p50.p95} ms` : ''))),
    p.health.last_error ? el('div', { class: 'last-error' }, `last error: ${p.health.last_error} (${p.health.consecutive_failures} in a row)`) : null,
    el('div', {}, reset));
}

function bar(label: string, used: number, limit: number | null, estimated: boolean): HTMLElement {
  const share = limit ? Math.min(1, used / limit) : 0;
  const cls = limit === null ? 'bar' : share >= 1 ? 'bar full' : share >= 0.8 ? 'bar high' : 'bar';
  const text = `${estimated ? '≈' : ''}${used.toLocaleString()}${limit === null ? ' (no limit)' : ` / ${limit.toLocaleString()}`}`;
  const fill = el('div', { class: 'fill' });
  fill.style.width = `${Math.round(share * 100)}%`;
  return el('div', { class: cls, 'data-bar': label, title: estimated ? 'includes tokens estimated by the gateway' : '' },
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
      el('td', {}, `${r.model}${r.stream ? ' (stream)' : ''}`),
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
void start();
