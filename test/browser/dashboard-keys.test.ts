import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createUpstreamDouble, type UpstreamDouble } from '../../tools/upstream-double.js';
import { provider, startGatewayFromFile, type RunningGateway } from '../helpers/gateway.js';
import { call, chat } from '../helpers/http.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(import.meta.dirname, '../../test-artifacts');
const ADMIN = 'dashboard-keys-admin-key-42';
const admin = { authorization: `Bearer ${ADMIN}` };
const haveBrowser = existsSync(CHROMIUM);
if (!haveBrowser && process.env.CI) throw new Error('chromium is not installed: CI must install it (apt-get install -y chromium)');

let double: UpstreamDouble;
let browser: Browser;
const opened: RunningGateway[] = [];
const contexts: BrowserContext[] = [];
const consoleErrors: string[] = [];

async function startGateway(): Promise<RunningGateway> {
  const path = join(mkdtempSync(join(tmpdir(), 'gw-ui-keys-')), 'provider.json');
  writeFileSync(path, JSON.stringify({
    _global: { default_retry: 0, admin_key: ADMIN },
    // Priced, so a key's cost is known; the other has no price and no entry in the price table.
    'gpt-4o': { providers: [provider('priced', double.url('priced'), { price: { input: 1000, output: 2000 } })] },
    'gpt-4o-mini': { providers: [provider('unpriced', double.url('unpriced'))] },
  }));
  const gw = await startGatewayFromFile(path);
  opened.push(gw);
  return gw;
}

/** The dashboard, logged in, in a browser context of its own (its own storage and clock zone). */
async function open(gw: RunningGateway, hash = ''): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'Europe/Paris' });
  contexts.push(context);
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: gw.url });
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  await page.goto(`${gw.url}/admin/ui${hash}`);
  await page.fill('#key', ADMIN);
  await page.click('#login button[type=submit]');
  await page.locator('#main').waitFor();
  return page;
}

/** The browser reports the page's own refused requests (400 here): expected, not errors of the page. */
function dropRefusals(status: number): void {
  consoleErrors.splice(0, consoleErrors.length, ...consoleErrors.filter((e) => !e.includes(String(status))));
}

const cell = (page: Page, name: string, col: string) => page.locator(`#keys tr[data-key="${name}"] [data-col="${col}"]`);
const barValue = (page: Page, name: string, bar: string) => page.locator(`#keys tr[data-key="${name}"] [data-bar="${bar}"] .value`);

/** Where a string could be left in the page or the browser: markup, field values, text, storage, URL. */
function traces(page: Page, s: string) {
  return page.evaluate((s) => ({
    markup: document.documentElement.outerHTML.includes(s),
    fields: Array.from(document.querySelectorAll<HTMLInputElement | HTMLTextAreaElement>('input, textarea')).some((e) => e.value.includes(s)),
    text: document.body.innerText.includes(s),
    storage: JSON.stringify({ ...sessionStorage }).includes(s) || JSON.stringify({ ...localStorage }).includes(s),
    url: location.href.includes(s),
  }), s);
}

describe.skipIf(!haveBrowser)('the dashboard\'s Keys view in a real browser', () => {
  beforeAll(async () => {
    double = await createUpstreamDouble();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
    });
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  afterAll(async () => {
    await Promise.all(contexts.map((c) => c.close()));
    await browser?.close();
    await Promise.all(opened.map((g) => g.close()));
    await double?.close();
  });
  afterEach(() => {
    expect(consoleErrors.splice(0), 'console errors').toEqual([]);
  });

  it('creates a key from the form: a refused setting is shown, the secret once, it works, usage shows up, and the secret leaves no trace', async () => {
    const gw = await startGateway();
    const page = await open(gw);
    await page.locator('[data-model="gpt-4o"]').waitFor();
    await page.click('#tab-keys');
    await page.locator('#keys tbody td.empty').waitFor();
    expect(await page.locator('#view-providers').isVisible()).toBe(false);
    expect(await page.locator('#tab-keys').getAttribute('aria-selected')).toBe('true');

    await page.click('#key-new');
    expect(await page.inputValue('#kf-cron')).toBe('0 0 * * *');
    expect(await page.locator('#kf-models input[type=checkbox]').evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value))).toEqual(['gpt-4o', 'gpt-4o-mini']);
    await page.fill('#kf-name', 'search-team');
    await page.check('#kf-models input[value="gpt-4o"]');
    await page.fill('#kf-requests', '10');
    await page.fill('#kf-cron', 'every day');
    await page.click('#kf-submit');
    await page.locator('#kf-error').waitFor();
    expect(await page.locator('#kf-error').textContent()).toContain('rate_limit.period_cron: invalid cron expression');
    expect(await page.locator('#kf-cron').getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('#key-secret').isVisible()).toBe(false);
    expect((await call(`${gw.url}/admin/keys`, { headers: admin })).json.data).toEqual([]);
    dropRefusals(400);

    await page.fill('#kf-cron', '0 0 * * *');
    await page.click('#kf-submit');
    await page.locator('#key-secret').waitFor();
    expect(await page.locator('#key-form-panel').isVisible()).toBe(false);
    const secret = await page.inputValue('#key-secret-value');
    expect(secret).toMatch(/^sk-gw-[A-Za-z0-9_-]{32}$/);
    expect(await page.locator('#key-secret-value').getAttribute('readonly')).not.toBeNull();
    expect(await page.locator('#key-secret').textContent()).toContain('This secret is shown only once.');
    await page.click('#key-secret-copy');
    await page.locator('#key-secret-copied', { hasText: 'Copied to the clipboard.' }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);

    await cell(page, 'search-team', 'status').locator('[data-status="active"]').waitFor();
    expect(await cell(page, 'search-team', 'models').textContent()).toBe('gpt-4o');
    expect(await cell(page, 'search-team', 'limits').textContent()).toBe('10 requests per periodperiod: 0 0 * * *');
    expect(await barValue(page, 'search-team', 'requests').textContent()).toBe('0 / 10');
    const [stored] = (await call(`${gw.url}/admin/keys`, { headers: admin })).json.data;
    expect(stored).toMatchObject({ name: 'search-team', models: ['gpt-4o'], rate_limit: { requests_per_period: 10, tokens_per_period: null, cost_per_period: null }, max_concurrent: null, expires_at: null, metadata: null });

    // The secret is a working key, for its one model only; a key now being needed, none is refused.
    const auth = { authorization: `Bearer ${secret}` };
    const models = await call(`${gw.url}/v1/models`, { headers: auth });
    expect(models.status).toBe(200);
    expect(models.json.data.map((m: { id: string }) => m.id)).toEqual(['gpt-4o']);
    expect((await call(`${gw.url}/v1/models`)).status).toBe(401);
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('gpt-4o'), headers: auth })).status).toBe(200);

    // The table follows by itself: the request and its (priced) cost.
    await page.waitForFunction(() => document.querySelector('#keys tr[data-key="search-team"] [data-bar="requests"] .value')?.textContent === '1 / 10', null, { timeout: 8000 });
    expect(await barValue(page, 'search-team', 'cost').textContent()).toMatch(/^\$0\.\d{2,4} \(no limit\)$/);
    expect(await barValue(page, 'search-team', 'cost').textContent()).not.toBe('$0.00 (no limit)');
    expect(await cell(page, 'search-team', 'usage').textContent()).toContain('next reset');

    // Shown, the probe finds it; closed, it is nowhere.
    expect(await traces(page, secret)).toMatchObject({ fields: true, storage: false, url: false });
    await page.click('#key-secret-close');
    expect(await page.locator('#key-secret').isVisible()).toBe(false);
    expect(await traces(page, secret)).toEqual({ markup: false, fields: false, text: false, storage: false, url: false });
    await page.click('#key-new');
    expect(await traces(page, secret)).toEqual({ markup: false, fields: false, text: false, storage: false, url: false });
    await page.click('#kf-cancel');
    await page.context().close();
  });

  it('edits a key (a refused change changes nothing; only what changed is sent) and revokes it after a confirmation', async () => {
    const gw = await startGateway();
    const created = await call(`${gw.url}/admin/keys`, { headers: admin, body: { name: 'ci-bot', rate_limit: { requests_per_period: 5 }, metadata: { team: 'ci' } } });
    expect(created.status).toBe(201);
    const auth = { authorization: `Bearer ${created.json.key}` };

    // Straight to the Keys view from its address.
    const page = await open(gw, '#keys');
    await cell(page, 'ci-bot', 'status').locator('[data-status="active"]').waitFor();
    expect(await page.locator('#view-providers').isVisible()).toBe(false);
    expect(await cell(page, 'ci-bot', 'models').textContent()).toBe('all');
    expect(await cell(page, 'ci-bot', 'name').textContent()).toContain('{"team":"ci"}');

    // Usage on a model without a price: its cost is unknown, not $0.
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('gpt-4o-mini'), headers: auth })).status).toBe(200);
    await page.waitForFunction(() => document.querySelector('#keys tr[data-key="ci-bot"] [data-bar="requests"] .value')?.textContent === '1 / 5', null, { timeout: 8000 });
    expect(await barValue(page, 'ci-bot', 'cost').textContent()).toBe('unknown (no limit)');

    const sent: Array<{ method: string; body: unknown }> = [];
    page.on('request', (r) => {
      if (r.url().includes('/admin/keys/')) sent.push({ method: r.method(), body: r.postDataJSON() as unknown });
    });
    await page.locator('#keys tr[data-key="ci-bot"] [data-action="edit"]').click();
    expect(await page.locator('#key-form-title').textContent()).toBe('Edit key ci-bot');
    expect(await page.inputValue('#kf-name')).toBe('ci-bot');
    expect(await page.inputValue('#kf-requests')).toBe('5');
    expect(await page.inputValue('#kf-tokens')).toBe('');
    expect(await page.inputValue('#kf-cron')).toBe('0 0 * * *');
    expect(JSON.parse(await page.inputValue('#kf-metadata'))).toEqual({ team: 'ci' });
    expect(await page.locator('#kf-models input:checked').count()).toBe(0);

    // Checked in the page: metadata that is not an object is never sent.
    await page.fill('#kf-metadata', '["ci"]');
    await page.click('#kf-submit');
    await page.locator('#kf-error', { hasText: 'metadata: must be a JSON object' }).waitFor();
    expect(sent).toEqual([]);
    await page.fill('#kf-metadata', '{"team": "ci"}');

    // Refused by the gateway: shown next to the form, and the key is as it was.
    await page.fill('#kf-requests', '50');
    await page.fill('#kf-cron', 'nope');
    await page.click('#kf-submit');
    await page.locator('#kf-error', { hasText: 'rate_limit.period_cron' }).waitFor();
    expect(sent).toHaveLength(1);
    expect((await call(`${gw.url}/admin/keys/${created.json.id}`, { headers: admin })).json.rate_limit).toEqual({ requests_per_period: 5, tokens_per_period: null, cost_per_period: null, period_cron: '0 0 * * *' });
    dropRefusals(400);

    await page.fill('#kf-cron', '0 0 * * *');
    await page.fill('#kf-tokens', '1000');
    await page.fill('#kf-cost', '2.5');
    await page.fill('#kf-concurrent', '3');
    await page.fill('#kf-expires', '2030-01-02T03:04:05'); // Paris, winter: UTC+1
    await page.click('#kf-submit');
    await page.locator('#notice', { hasText: 'Key ci-bot saved.' }).waitFor();
    expect(await page.locator('#key-form-panel').isVisible()).toBe(false);
    expect(sent.at(-1)).toEqual({
      method: 'PATCH',
      body: { rate_limit: { requests_per_period: 50, tokens_per_period: 1000, cost_per_period: 2.5, period_cron: '0 0 * * *' }, max_concurrent: 3, expires_at: '2030-01-02T02:04:05.000Z' },
    });
    await page.waitForFunction(() => document.querySelector('#keys tr[data-key="ci-bot"] [data-col="concurrent"]')?.textContent === '3', null, { timeout: 8000 });
    expect(await cell(page, 'ci-bot', 'limits').textContent()).toBe('50 requests · 1,000 tokens · $2.50 per periodperiod: 0 0 * * *');
    expect(await barValue(page, 'ci-bot', 'requests').textContent()).toBe('1 / 50');
    expect(await barValue(page, 'ci-bot', 'cost').textContent()).toBe('unknown / $2.50');
    expect(await cell(page, 'ci-bot', 'expires').getAttribute('title')).toBe('2030-01-02T02:04:05.000Z');
    expect((await call(`${gw.url}/admin/keys/${created.json.id}`, { headers: admin })).json).toMatchObject({ max_concurrent: 3, metadata: { team: 'ci' }, expires_at: '2030-01-02T02:04:05.000Z' });

    // Opened again, the form holds what was saved; saved unchanged, nothing is sent.
    await page.locator('#keys tr[data-key="ci-bot"] [data-action="edit"]').click();
    expect(await page.inputValue('#kf-expires')).toBe('2030-01-02T03:04:05');
    expect(await page.inputValue('#kf-cost')).toBe('2.5');
    const count = sent.length;
    await page.click('#kf-submit');
    await page.locator('#notice', { hasText: 'Key ci-bot: nothing changed.' }).waitFor();
    expect(sent).toHaveLength(count);

    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-keys-1280.png'), fullPage: true });
    expect(await page.locator('#keys').evaluate((t) => t.parentElement!.scrollWidth - t.parentElement!.clientWidth), 'the keys table fits a wide screen').toBeLessThanOrEqual(0);
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
    await page.setViewportSize({ width: 1280, height: 900 });

    // Revoking asks first: declined, nothing happens.
    const asked: string[] = [];
    page.once('dialog', (d) => {
      asked.push(d.message());
      void d.dismiss();
    });
    await page.locator('#keys tr[data-key="ci-bot"] [data-action="revoke"]').click();
    expect(asked).toHaveLength(1);
    expect(asked[0]).toContain('Revoke the key ci-bot?');
    expect(sent.filter((s) => s.method === 'DELETE')).toEqual([]);
    expect((await call(`${gw.url}/v1/models`, { headers: auth })).status).toBe(200);

    page.once('dialog', (d) => void d.accept());
    await page.locator('#keys tr[data-key="ci-bot"] [data-action="revoke"]').click();
    await cell(page, 'ci-bot', 'status').locator('[data-status="revoked"]').waitFor();
    expect(sent.filter((s) => s.method === 'DELETE')).toHaveLength(1);
    expect(await page.locator('#notice').textContent()).toBe('Key ci-bot revoked.');
    expect(await page.locator('#keys tr[data-key="ci-bot"] button').count()).toBe(0);
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('gpt-4o'), headers: auth })).status).toBe(401);
    expect((await call(`${gw.url}/admin/keys/${created.json.id}`, { headers: admin })).json.status).toBe('revoked');
    await page.context().close();
  });
});
