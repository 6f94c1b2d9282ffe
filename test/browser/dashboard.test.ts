import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createUpstreamDouble, type UpstreamDouble } from '../../tools/upstream-double.js';
import { provider, startGatewayFromFile, type RunningGateway } from '../helpers/gateway.js';
import { call, chat } from '../helpers/http.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(import.meta.dirname, '../../test-artifacts');
const ADMIN = 'dashboard-admin-key-42';
const haveBrowser = existsSync(CHROMIUM);
if (!haveBrowser && process.env.CI) throw new Error('chromium is not installed: CI must install it (apt-get install -y chromium)');
if (!haveBrowser) process.stderr.write('\n!! /usr/bin/chromium not found: the dashboard browser tests are SKIPPED (apt-get install chromium)\n\n');

let double: UpstreamDouble;
let browser: Browser;
const opened: RunningGateway[] = [];
const consoleErrors: string[] = [];

function configFile(raw: unknown): string {
  const path = join(mkdtempSync(join(tmpdir(), 'gw-ui-')), 'provider.json');
  writeFileSync(path, JSON.stringify(raw));
  return path;
}

const config = (global: Record<string, unknown>) => ({
  _global: { default_retry: 0, ...global },
  'gpt-4o': {
    providers: [
      provider('primary', double.url('primary'), { priority: 1, weight: 30, rate_limit: { requests_per_period: 100, tokens_per_period: 50000 } }),
      provider('secondary', double.url('secondary'), { priority: 1, weight: 10 }),
      provider('backup', double.url('backup'), { priority: 2 }),
    ],
  },
  'text-embedding-3-small': { providers: [provider('emb', double.url('emb'))] },
});

async function open(gw: RunningGateway, viewport = { width: 1280, height: 900 }): Promise<Page> {
  const page = await browser.newPage({ viewport });
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  await page.goto(`${gw.url}/admin/ui`);
  return page;
}

describe.skipIf(!haveBrowser)('the dashboard in a real browser', () => {
  beforeAll(async () => {
    double = await createUpstreamDouble();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
    });
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await Promise.all(opened.map((g) => g.close()));
    await double?.close();
  });
  afterEach(() => {
    expect(consoleErrors.splice(0), 'console errors').toEqual([]);
  });

  it('asks for the key; a wrong key shows an error and nothing else; the right key opens it', async () => {
    const gw = await startGatewayFromFile(configFile(config({ admin_key: ADMIN })));
    opened.push(gw);
    const page = await open(gw);
    await page.locator('#login').waitFor({ state: 'visible' });
    expect(await page.locator('#main').isVisible()).toBe(false);
    await page.fill('#key', 'not-the-key');
    await page.click('#login button[type=submit]');
    await page.locator('#login-error').waitFor({ state: 'visible' });
    expect(await page.locator('#login-error').textContent()).toBe('Wrong key.');
    expect(await page.locator('#main').isVisible()).toBe(false);
    expect(await page.locator('[data-model]').count()).toBe(0);
    // The browser reports the refused request itself; that is the only expected error.
    expect(consoleErrors.splice(0).every((e) => e.includes('401'))).toBe(true);

    await page.fill('#key', ADMIN);
    await page.click('#login button[type=submit]');
    await page.locator('[data-model="gpt-4o"]').waitFor();
    const names = await page.locator('[data-model="gpt-4o"] [data-provider]').evaluateAll((els) => els.map((e) => e.getAttribute('data-provider')));
    expect(names).toEqual(['primary', 'secondary', 'backup']);
    expect(await page.locator('[data-model="text-embedding-3-small"]').count()).toBe(1);
    expect(await page.locator('[data-provider="primary"] .badge.pref').count()).toBe(1);
    // Kept for this tab's session: a reload of the page opens without asking again.
    await page.reload();
    await page.locator('[data-model="gpt-4o"]').waitFor();
    expect(await page.locator('#login').isVisible()).toBe(false);
    const html = await page.content();
    expect(html).not.toContain('sk-test');
    await page.close();
  });

  it('updates by itself: usage after requests, a failing provider cooling down, the latest requests', async () => {
    const gw = await startGatewayFromFile(configFile(config({ admin_key: ADMIN })));
    opened.push(gw);
    const page = await open(gw);
    await page.fill('#key', ADMIN);
    await page.click('#login button[type=submit]');
    await page.locator('[data-provider="primary"] [data-bar="requests"] .value').waitFor();
    expect(await page.locator('[data-provider="primary"] [data-bar="requests"] .value').textContent()).toBe('0 / 100');

    for (let i = 0; i < 4; i++) await call(`${gw.url}/v1/chat/completions`, { body: chat('gpt-4o') });
    await page.waitForFunction(() => /^[1-9]\d* \/ 100$/.test(document.querySelector('[data-provider="primary"] [data-bar="requests"] .value')?.textContent ?? ''), null, { timeout: 8000 });

    double.script('primary', { status: 503 });
    double.script('secondary', { status: 503 });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('gpt-4o') });
    expect(r.headers['x-gateway-provider']).toBe('backup');
    await page.locator('[data-provider="primary"] [data-state="cooling"]').waitFor({ timeout: 8000 });
    await page.locator('[data-provider="secondary"] [data-state="cooling"]').waitFor({ timeout: 8000 });
    expect(await page.locator('[data-provider="primary"] .last-error').textContent()).toContain('503');
    expect(await page.locator('#recent tbody tr.failover').count()).toBeGreaterThanOrEqual(1);
    expect(await page.locator('#recent tbody tr').first().textContent()).toContain('backup 200');

    // Reset a provider's usage by hand, after a confirmation.
    page.once('dialog', (d) => void d.accept());
    await page.locator('[data-provider="primary"] button', { hasText: 'Reset usage' }).click();
    await page.waitForFunction(() => document.querySelector('[data-provider="primary"] [data-bar="requests"] .value')?.textContent === '0 / 100', null, { timeout: 8000 });
    expect(await page.locator('#notice').textContent()).toContain('Usage of primary (gpt-4o) reset.');

    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-1280.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-phone.png'), fullPage: true });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.close();
  });

  it('shows what agents need: a rate-limited provider with what set its cooldown, affinity share, interrupted streams', async () => {
    const gw = await startGatewayFromFile(configFile(config({ admin_key: ADMIN })));
    opened.push(gw);
    const page = await open(gw);
    await page.fill('#key', ADMIN);
    await page.click('#login button[type=submit]');
    await page.locator('[data-provider="primary"] [data-agent]').waitFor();
    // One session of four requests: the first is new, three follow the pin.
    for (let i = 0; i < 4; i++) await call(`${gw.url}/v1/chat/completions`, { body: chat('gpt-4o', { prompt_cache_key: 'agent-1' }) });
    await page.waitForFunction(() => /affinity 75% of 4/.test(document.querySelector('[data-provider="primary"] [data-agent]')?.textContent ?? ''), null, { timeout: 8000 });
    // A stream cut after its first content.
    double.script('primary', { chunks: 6, dropAfterChunks: 3 });
    await call(`${gw.url}/v1/chat/completions`, { body: chat('gpt-4o', { stream: true, prompt_cache_key: 'agent-1' }) });
    await page.waitForFunction(() => /interrupted streams 1/.test(document.querySelector('[data-provider="primary"] [data-agent]')?.textContent ?? ''), null, { timeout: 8000 });
    // A 429 that says when to come back.
    double.script('primary', { status: 429, headers: { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '2m0s' } });
    await call(`${gw.url}/v1/chat/completions`, { body: chat('gpt-4o', { prompt_cache_key: 'agent-1' }) });
    const badge = page.locator('[data-provider="primary"] [data-state="cooling"]');
    await badge.waitFor({ timeout: 8000 });
    expect(await badge.textContent()).toMatch(/^rate-limited until .+ \(x-ratelimit-reset\)$/);
    await page.close();
  });

  it('reloads the configuration, showing every error of a broken file', async () => {
    const path = configFile(config({ admin_key: ADMIN }));
    const gw = await startGatewayFromFile(path);
    opened.push(gw);
    const page = await open(gw);
    await page.fill('#key', ADMIN);
    await page.click('#login button[type=submit]');
    await page.locator('[data-model="gpt-4o"]').waitFor();

    writeFileSync(path, JSON.stringify({ ...config({ admin_key: ADMIN }), broken: { providers: [{ name: 'x', endpoint: 'ftp://nowhere', api_key: 'k', model: 'x', weight: 0 }] } }));
    await page.click('#reload');
    await page.locator('#notice.bad li').first().waitFor();
    const errors = await page.locator('#notice li').allTextContents();
    expect(errors.some((e) => e.includes('model "broken", provider "x": weight'))).toBe(true);
    // A 400 answer to the reload is the page's own request: the browser reports it.
    consoleErrors.splice(0, consoleErrors.length, ...consoleErrors.filter((e) => !e.includes('400')));

    writeFileSync(path, JSON.stringify({ ...config({ admin_key: ADMIN }), extra: { providers: [provider('x', double.url('x'))] } }));
    await page.click('#reload');
    await page.locator('#notice:not(.bad)').waitFor();
    expect(await page.locator('#notice').textContent()).toContain('models added: extra');
    await page.locator('[data-model="extra"]').waitFor();
    await page.close();
  });

  it('opens directly when no key is configured', async () => {
    const gw = await startGatewayFromFile(configFile(config({})));
    opened.push(gw);
    const page = await open(gw);
    await page.locator('[data-model="gpt-4o"]').waitFor();
    expect(await page.locator('#login').isVisible()).toBe(false);
    await page.close();
  });
});
