// Browser tests of the dashboard (issue 6) in Debian's headless Chromium, driven
// by playwright-core, against a real `tokyoia serve` started by tests/web/run.sh
// (which passes the URL, a session token, the database URL and the budget in
// TIA_WEB_* variables). Work is driven through the API (claim/complete as a
// worker would), and the page must follow through the event stream, without a
// reload. Screenshots of each page at desktop and phone width go to
// TIA_WEB_SHOTS.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set: run tests/web/run.sh`);
  return v;
};
const BASE = env('TIA_WEB_URL');
const TOKEN = env('TIA_WEB_TOKEN');
const DB = env('TIA_WEB_DB');
const BACKEND = env('TIA_WEB_BACKEND');
const SHOTS = env('TIA_WEB_SHOTS');
const BUDGET = Number(env('TIA_WEB_BUDGET'));
const BIN = env('TIA_BIN');
const require = createRequire(join(env('TIA_WEB_PLAYWRIGHT'), 'package.json'));
const { chromium } = require('playwright-core');

const AGENTS = ['akira-001', 'yuki-002', 'hiro-003', 'sakura-004', 'kenji-005'];
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

let browser;

async function apiCall(method, path, body) {
  const headers = { Authorization: `Bearer ${TOKEN}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(BASE + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// A workflow of `keys` (each depending on the one before), all on akira-001.
async function submitChain(name, keys) {
  const tasks = keys.map((key, i) => ({
    key, agent_id: 'akira-001', task_type: `step_${key}`, description: `step ${key} of ${name}`,
    input_data: { n: i }, depends_on: i ? [keys[i - 1]] : [],
  }));
  return apiCall('POST', '/api/v1/workflows', { name, tasks });
}

// Claims and completes every ready task of akira-001 once (a worker's round).
async function workRound(tokens = 1000) {
  const c = await apiCall('POST', '/api/v1/tasks/claim', { agent_ids: ['akira-001'], worker_id: 'web-test', max: 10, lease: '60s' });
  for (const it of c.items) {
    await apiCall('POST', `/api/v1/tasks/${it.task.id}/complete`, {
      worker_id: 'web-test', attempt: it.attempt, output_data: { ok: true }, input_tokens: tokens / 2, output_tokens: tokens / 2,
    });
  }
  return c.items.length;
}

// A page signed in with the token, collecting console errors and page errors.
async function signedIn(viewport = DESKTOP, token = TOKEN) {
  const ctx = await browser.newContext({ viewport });
  await ctx.addInitScript((t) => sessionStorage.setItem('tia_token', t), token);
  const page = await ctx.newPage();
  page.errors = [];
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(m.text()); });
  page.on('pageerror', (e) => page.errors.push(e.message));
  page.on('dialog', (d) => d.accept());
  return page;
}

async function ready(page) {
  await page.waitForSelector('.page[data-ready="1"]', { timeout: 15000 });
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}-${BACKEND}.png`), fullPage: true });
}

before(async () => {
  const args = ['--headless=new'];
  if (process.getuid && process.getuid() === 0) args.push('--no-sandbox'); // Chromium refuses root otherwise
  browser = await chromium.launch({ executablePath: process.env.TIA_CHROMIUM || '/usr/bin/chromium', args });
});

after(async () => {
  if (browser) await browser.close();
});

test('the overview loads with no console errors and shows the five agents', async () => {
  const page = await signedIn();
  await page.goto(BASE + '/');
  await ready(page);
  const cards = page.locator('[data-testid="agent-card"]');
  assert.equal(await cards.count(), 5);
  const shown = await cards.evaluateAll((els) => els.map((e) => e.dataset.agent).sort());
  assert.deepEqual(shown, [...AGENTS].sort());
  const names = (await apiCall('GET', '/api/v1/agents')).items.map((a) => a.name);
  for (const n of names) assert.ok(await page.getByText(n, { exact: true }).first().isVisible(), `agent ${n} is visible`);
  assert.match(await page.locator('#live').textContent(), /live/);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a request without a token sees the login, and the token opens the dashboard', async () => {
  const r = await fetch(BASE + '/api/v1/agents');
  assert.equal(r.status, 401);
  const ctx = await browser.newContext({ viewport: DESKTOP });
  const page = await ctx.newPage();
  await page.goto(BASE + '/');
  const input = page.locator('#token');
  await input.waitFor({ timeout: 15000 });
  assert.equal(await page.locator('[data-testid="agent-card"]').count(), 0);
  assert.equal(await page.getByRole('heading', { name: 'Sign in' }).count(), 1);
  await shot(page, 'login-desktop');
  await input.fill('tia_not-a-real-token');
  await input.press('Enter');
  await page.locator('#login-error').filter({ hasText: /refused/ }).waitFor();
  await input.fill(TOKEN);
  await input.press('Enter');
  await ready(page);
  assert.equal(await page.locator('[data-testid="agent-card"]').count(), 5);
  await ctx.close();
});

test('a workflow submitted during the test moves to completed on screen without a reload', async () => {
  const page = await signedIn();
  await page.goto(BASE + '/');
  await ready(page);
  await page.evaluate(() => { window.__noReload = 42; });
  const wf = await submitChain('live-test', ['a', 'b', 'c']);
  // The overview hears of it through the event stream.
  const row = page.locator(`[data-testid="workflow-row"][data-workflow="${wf.id}"]`).first();
  await row.waitFor({ timeout: 10000 });
  await row.locator('a').click();
  await page.waitForSelector(`[data-testid="wf-status"]`);
  assert.equal(await page.locator('[data-testid="graph"] .node').count(), 3);
  assert.equal(await page.locator('[data-testid="graph"] .edge').count(), 2);
  assert.equal(await page.locator('[data-testid="wf-status"]').getAttribute('data-status'), 'pending');
  for (let i = 0; i < 3; i++) {
    assert.equal(await workRound(), 1, 'one task is ready at a time');
    await page.locator(`[data-testid="graph"] .node.st-completed`).nth(i).waitFor({ timeout: 10000 });
  }
  await page.locator('[data-testid="wf-status"][data-status="completed"]').waitFor({ timeout: 10000 });
  assert.equal(await page.evaluate(() => window.__noReload), 42, 'the page was not reloaded');
  assert.equal((await apiCall('GET', `/api/v1/workflows/${wf.id}`)).status, 'completed');
  // A task's input and output are shown when it is chosen, by keyboard too.
  await page.locator('[data-testid="graph"] .node').first().focus();
  await page.keyboard.press('Enter');
  await page.locator('[data-testid="task-detail"]').getByText('"ok": true').waitFor();
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a chart has as many points as the API returns', async () => {
  const page = await signedIn();
  const seen = page.waitForResponse((r) => r.url().includes('/api/v1/agents/akira-001/metrics?metric_type=latency'));
  await page.goto(BASE + '/#/agents/akira-001');
  const resp = await seen;
  await ready(page);
  // The same query from here: the page must draw exactly its buckets.
  const url = new URL(resp.url());
  const api = await apiCall('GET', url.pathname + url.search);
  assert.ok(api.items.length > 0, 'the earlier tests recorded latency points');
  const chart = page.locator('[data-testid="chart-latency"]');
  assert.equal(Number(await chart.getAttribute('data-points')), api.items.length);
  await chart.locator('canvas').first().waitFor();
  // The figures table under the chart has one row per point.
  assert.equal(await chart.locator('details.data tbody tr').count(), api.items.length);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('cancel from the page cancels the workflow in the database', async () => {
  const wf = await submitChain('cancel-test', ['x', 'y']);
  const page = await signedIn();
  await page.goto(BASE + `/#/workflows/${wf.id}`);
  await ready(page);
  await page.locator('[data-testid="cancel-workflow"]').click(); // the confirm() is accepted
  await page.locator('[data-testid="wf-status"][data-status="cancelled"]').waitFor({ timeout: 10000 });
  assert.equal((await apiCall('GET', `/api/v1/workflows/${wf.id}`)).status, 'cancelled');
  const cli = JSON.parse(execFileSync(BIN, ['--db', DB, '--json', 'workflows', 'show', wf.id], { encoding: 'utf8' }));
  assert.equal(cli.status, 'cancelled');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('the cost page warns when today\'s spend crosses the daily budget', async () => {
  const page = await signedIn();
  await page.goto(BASE + '/#/cost');
  await ready(page);
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  const ov = await apiCall('GET', '/api/v1/dashboard/overview?from=' + encodeURIComponent(midnight.toISOString()));
  const over = Number(ov.totals.cost_usd) > BUDGET;
  assert.ok(over, 'the completed tasks cost more than the test budget');
  assert.equal(await page.locator('[data-testid="budget-warning"]').count(), 1);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a preset range ends when the page loads, not at its first visit', async () => {
  const page = await signedIn();
  const isCosts = (r) => new URL(r.url()).pathname === '/api/v1/dashboard/costs';
  const tos = [];
  page.on('request', (r) => { if (isCosts(r)) tos.push(Date.parse(new URL(r.url()).searchParams.get('to'))); });
  await page.goto(BASE + '/#/cost');
  await ready(page);
  await page.evaluate(() => { location.hash = '#/'; });
  await page.waitForTimeout(100);
  const again = page.waitForRequest(isCosts);
  await page.evaluate(() => { location.hash = '#/cost'; });
  await again;
  assert.ok(tos.length >= 2, `${tos.length} costs requests`);
  assert.ok(tos[tos.length - 1] > tos[0], `the second visit asked for the first one's end, ${new Date(tos[0]).toISOString()}`);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('live refreshes run one at a time, and once more after a burst that came during one', async () => {
  const page = await signedIn();
  await page.goto(BASE + '/');
  await ready(page);
  const r = await page.evaluate(async () => {
    const { coalesce } = await import('/assets/core.js');
    const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
    let running = 0, most = 0, runs = 0, late = 0;
    const call = coalesce(async () => { running++; runs++; most = Math.max(most, running); await sleep(200); running--; }, 20);
    for (let i = 0; i < 20; i++) { call(); await sleep(30); }
    const before = runs;
    await sleep(1000);
    late = runs - before;
    return { most, runs, late };
  });
  assert.equal(r.most, 1, `${r.most} loads at once`);
  assert.ok(r.runs >= 2 && r.runs <= 6, `${r.runs} runs for 20 calls over 600 ms`);
  assert.ok(r.late >= 1, 'the calls made during the last run got no run after it');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('an address with a malformed %-escape shows Not found', async () => {
  const page = await signedIn();
  await page.goto(BASE + '/');
  await ready(page);
  await page.evaluate(() => { location.hash = '#/agents/%E0%A4%A'; });
  await page.getByRole('heading', { name: 'Not found' }).waitFor({ timeout: 5000 });
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a page whose session is revoked shows the login, not an endless retry', async () => {
  const made = await apiCall('POST', '/api/v1/sessions', { user_id: 'web-test', ttl: '1h' });
  const page = await signedIn(DESKTOP, made.token);
  await page.goto(BASE + '/');
  await ready(page);
  await apiCall('DELETE', `/api/v1/sessions/${made.session.id}`);
  // The server ends a revoked session's stream within 5 s (its check interval).
  await page.locator('#token').waitFor({ timeout: 15000 });
  await page.context().close();
});

test('keyboard: an agent card opens with Enter', async () => {
  const page = await signedIn();
  await page.goto(BASE + '/');
  await ready(page);
  let found = false;
  for (let i = 0; i < 30 && !found; i++) {
    await page.keyboard.press('Tab');
    found = await page.evaluate(() => document.activeElement && document.activeElement.dataset.testid === 'agent-card');
  }
  assert.ok(found, 'an agent card takes the focus');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => location.hash.startsWith('#/agents/'));
  await ready(page);
  await page.context().close();
});

test('screenshots of each page at desktop and phone width, with no sideways scrolling on a phone', async () => {
  const wf = (await apiCall('GET', '/api/v1/workflows?limit=50')).items.find((w) => w.name === 'live-test');
  assert.ok(wf);
  const pages = [['overview', '/'], ['workflow', `/#/workflows/${wf.id}`], ['agent', '/#/agents/akira-001'], ['cost', '/#/cost']];
  for (const [size, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    const page = await signedIn(viewport);
    for (const [name, path] of pages) {
      await page.goto(BASE + path);
      await ready(page);
      await page.waitForTimeout(150); // charts draw in the next frame
      if (size === 'phone') {
        const wide = await page.evaluate(() => document.documentElement.scrollWidth);
        assert.ok(wide <= viewport.width, `${name} is ${wide}px wide at ${viewport.width}px`);
      }
      await shot(page, `${name}-${size}`);
    }
    assert.deepEqual(page.errors, []);
    await page.context().close();
  }
});

// ---- the HTTP side of the dashboard (src/api/web.c), from node ----

import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';

// A raw GET (node's fetch would add and undo its own compression).
function rawGet(path, headers = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(BASE);
    // path as given: a URL object would resolve "..", which the server must refuse itself.
    const req = request({ host: u.hostname, port: u.port, path, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.setTimeout(3000, () => req.destroy());
    req.end();
  });
}

test('assets: public, ETag and 304, gzip only when accepted, no path tricks', async () => {
  const page = await rawGet('/');
  assert.equal(page.status, 200);
  assert.match(page.headers['content-type'], /^text\/html/);
  assert.equal(page.headers['cache-control'], 'no-cache');
  assert.match(page.headers['content-security-policy'], /default-src 'self'/);
  assert.match(page.body.toString(), /<script type="module" src="\/assets\/app.js">/);
  const etag = page.headers.etag;
  assert.match(etag, /^"[0-9a-f]{32}"$/);
  const again = await rawGet('/', { 'If-None-Match': etag });
  assert.equal(again.status, 304);
  assert.equal(again.body.length, 0);

  const plain = await rawGet('/assets/dygraph.min.js');
  assert.equal(plain.status, 200);
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.match(plain.headers['content-type'], /^text\/javascript/);
  assert.doesNotMatch(plain.body.toString(), /sourceMappingURL/);
  const zipped = await rawGet('/assets/dygraph.min.js', { 'Accept-Encoding': 'br, gzip' });
  assert.equal(zipped.headers['content-encoding'], 'gzip');
  assert.equal(zipped.headers.vary, 'Accept-Encoding');
  assert.ok(zipped.body.length < plain.body.length / 2);
  assert.deepEqual(gunzipSync(zipped.body), plain.body);
  const refused = await rawGet('/assets/dygraph.min.js', { 'Accept-Encoding': 'gzip;q=0' });
  assert.equal(refused.headers['content-encoding'], undefined);

  assert.equal((await rawGet('/assets/nope.js')).status, 404);
  assert.equal((await rawGet('/assets/index.html')).status, 404);
  assert.equal((await rawGet('/assets/../CMakeLists.txt')).status, 400);
});

test('dashboard data routes need the token; the token in the query opens the event stream only', async () => {
  assert.equal((await rawGet('/api/v1/dashboard/config')).status, 401);
  assert.equal((await rawGet('/api/v1/dashboard/costs')).status, 401);
  const cfg = await apiCall('GET', '/api/v1/dashboard/config');
  assert.deepEqual(cfg, { daily_budget_usd: BUDGET.toFixed(6), auth: 'required' });
  const q = '?access_token=' + encodeURIComponent(TOKEN);
  assert.equal((await rawGet('/api/v1/agents' + q)).status, 401);
  assert.equal((await rawGet('/api/v1/events?access_token=tia_bad')).status, 401);
  const events = await new Promise((resolve, reject) => {
    const req = request(BASE + '/api/v1/events' + q, (res) => { resolve(res); req.destroy(); });
    req.on('error', (e) => (e.code === 'ECONNRESET' ? null : reject(e)));
    req.end();
  });
  assert.equal(events.statusCode, 200);
  assert.equal(events.headers['content-type'], 'text/event-stream');
});

test('dashboard data: costs add up to the tasks, the graph has the dependencies', async () => {
  const from = new Date(Date.now() - 86400e3).toISOString();
  const costs = await apiCall('GET', `/api/v1/dashboard/costs?bucket=hour&from=${encodeURIComponent(from)}`);
  const tasks = (await apiCall('GET', '/api/v1/tasks?status=completed&limit=1000')).items;
  const want = tasks.reduce((a, t) => a + Number(t.cost_usd), 0);
  const wantTokens = tasks.reduce((a, t) => a + t.tokens_used, 0);
  const sum = (pts, k) => pts.reduce((a, p) => a + Number(p[k]), 0);
  assert.ok(want > 0);
  assert.ok(Math.abs(sum(costs.total, 'cost_usd') - want) < 1e-5, `total ${sum(costs.total, 'cost_usd')} vs tasks ${want}`);
  assert.equal(sum(costs.total, 'tokens'), wantTokens);
  const akira = costs.agents.find((a) => a.agent_id === 'akira-001');
  assert.ok(Math.abs(sum(akira.points, 'cost_usd') - want) < 1e-5, 'every completed task was akira-001\'s');
  const model = costs.models.find((m) => m.model === akira.model);
  assert.ok(Math.abs(sum(model.points, 'cost_usd') - want) < 1e-5);
  assert.equal((await rawGet('/api/v1/dashboard/costs?bucket=week', { Authorization: `Bearer ${TOKEN}` })).status, 400);

  const wf = await submitChain('graph-test', ['p', 'q', 'r']);
  const g = await apiCall('GET', `/api/v1/dashboard/workflows/${wf.id}/graph`);
  const id = Object.fromEntries(wf.tasks.map((t) => [t.task_type, t.id]));
  const edges = g.edges.map((e) => `${e.depends_on}>${e.task_id}`).sort();
  assert.deepEqual(edges, [`${id.step_p}>${id.step_q}`, `${id.step_q}>${id.step_r}`].sort());
  assert.equal((await rawGet('/api/v1/dashboard/workflows/00000000-0000-7000-8000-000000000000/graph', { Authorization: `Bearer ${TOKEN}` })).status, 404);
  await apiCall('POST', `/api/v1/workflows/${wf.id}/cancel`);

  const ov = await apiCall('GET', '/api/v1/dashboard/overview?from=' + encodeURIComponent(from));
  assert.equal(ov.totals.tasks_completed, tasks.length);
  assert.equal(ov.agents.length, 5);
});
