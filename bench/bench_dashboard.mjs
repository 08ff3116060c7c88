// The dashboard benchmark (run by bench/run-dashboard.sh): loads the overview
// and a workflow of TIA_BENCH_DASH_TASKS tasks (default 500, submitted through
// the API, half of them completed by a worker over HTTP so that the page has
// every status to draw) in headless Chromium with a cold cache each time, and
// reports, as medians and 95th percentiles over TIA_BENCH_DASH_RUNS loads:
//   first render  - the first contentful paint;
//   interactive   - the page's data drawn and its handlers attached (the page
//                   marks itself data-ready="1"), from the start of navigation;
//   bytes         - transferred over the wire (compressed, with headers), from
//                   the Resource Timing entries, the event stream excluded;
// and, in the same run, the API calls the page made, fetched from node: one
// after the other (the sum) and all at once (as the page makes them).

import { createRequire } from 'node:module';
import { join } from 'node:path';

const BASE = process.env.TIA_WEB_URL;
const TOKEN = process.env.TIA_WEB_TOKEN;
const RUNS = Number(process.env.TIA_BENCH_DASH_RUNS || 15);
const NTASKS = Number(process.env.TIA_BENCH_DASH_TASKS || 500);
const require = createRequire(join(process.env.TIA_WEB_PLAYWRIGHT, 'package.json'));
const { chromium } = require('playwright-core');

async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${TOKEN}` };
  if (body) headers['Content-Type'] = 'application/json';
  const r = await fetch(BASE + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text.slice(0, 200)}`);
  return text ? JSON.parse(text) : null;
}

const agents = ['akira-001', 'yuki-002', 'hiro-003', 'sakura-004', 'kenji-005'];

// 500 tasks in 10 levels of 50; each depends on two tasks of the level before.
async function bigWorkflow() {
  const per = Math.max(1, Math.ceil(NTASKS / 10));
  const tasks = [];
  for (let i = 0; i < NTASKS; i++) {
    const lvl = Math.floor(i / per);
    const deps = lvl === 0 ? [] : [...new Set([`t${(lvl - 1) * per + (i % per)}`, `t${(lvl - 1) * per + ((i + 1) % per)}`])];
    tasks.push({ key: `t${i}`, agent_id: agents[i % 5], task_type: `step_${lvl}`, description: `task ${i}`, input_data: { i }, depends_on: deps });
  }
  const wf = await call('POST', '/api/v1/workflows', { name: `bench-${NTASKS}`, tasks });
  // A worker completes about half of them, level by level.
  let done = 0;
  while (done < NTASKS / 2) {
    const c = await call('POST', '/api/v1/tasks/claim', { agent_ids: agents, worker_id: 'bench', max: 100, lease: '60s' });
    if (!c.items.length) break;
    for (const it of c.items) {
      await call('POST', `/api/v1/tasks/${it.task.id}/complete`, { worker_id: 'bench', attempt: it.attempt, output_data: { ok: 1 }, input_tokens: 400, output_tokens: 200 });
      done++;
    }
  }
  return wf.id;
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const fmt = (xs) => `median ${pct(xs, 50).toFixed(1)} ms, p95 ${pct(xs, 95).toFixed(1)} ms`;

async function loadOnce(browser, path) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await ctx.addInitScript((t) => sessionStorage.setItem('tia_token', t), TOKEN);
  const page = await ctx.newPage();
  const apis = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith('/api/v1/') && u.pathname !== '/api/v1/events') apis.push(u.pathname + u.search);
  });
  await page.goto(BASE + path);
  await page.waitForSelector('.page[data-ready="1"]', { timeout: 30000 });
  const m = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    let bytes = nav.transferSize, body = nav.encodedBodySize, decoded = nav.decodedBodySize, assets = 0;
    for (const r of performance.getEntriesByType('resource')) {
      if (r.name.includes('/api/v1/events')) continue;
      bytes += r.transferSize;
      body += r.encodedBodySize;
      decoded += r.decodedBodySize;
      if (r.name.includes('/assets/')) assets += r.encodedBodySize;
    }
    // The app notes when the first page has drawn its data (window.__tiaReadyAt).
    return { fcp: fcp ? fcp.startTime : NaN, ready: window.__tiaReadyAt || NaN, bytes, body, decoded, assets };
  });
  await ctx.close();
  return { ...m, apis };
}

async function measurePage(browser, label, path) {
  await loadOnce(browser, path); // warm the server (statement caches), not the browser
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(await loadOnce(browser, path));
  const apis = runs[runs.length - 1].apis;
  // The same API calls from node, in the same run.
  const seq = [], par = [];
  for (let i = 0; i < RUNS; i++) {
    let t = performance.now();
    for (const a of apis) await call('GET', a);
    seq.push(performance.now() - t);
    t = performance.now();
    await Promise.all(apis.map((a) => call('GET', a)));
    par.push(performance.now() - t);
  }
  const last = runs[runs.length - 1];
  const lines = [
    `${label}:`,
    `  first render (FCP)   ${fmt(runs.map((r) => r.fcp))}`,
    `  interactive          ${fmt(runs.map((r) => r.ready))}`,
    `  transferred          ${(last.bytes / 1024).toFixed(1)} KB (bodies ${(last.body / 1024).toFixed(1)} KB compressed, ${(last.decoded / 1024).toFixed(1)} KB decoded; assets ${(last.assets / 1024).toFixed(1)} KB)`,
    `  API calls (${apis.length})        from node one by one: ${fmt(seq)}; all at once: ${fmt(par)}`,
    ...apis.map((a) => `    ${a}`),
  ];
  return lines.join('\n');
}

const args = ['--headless=new'];
if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args });
try {
  // Some history, so the overview has numbers to show.
  const small = await call('POST', '/api/v1/workflows', { template: 'code_review', input: { pr: 1 } });
  const wfId = await bigWorkflow();
  console.log(`tokyoia dashboard benchmark: ${process.env.TIA_BENCH_BACKEND || 'sqlite'}, ${RUNS} cold loads per page, Chromium headless 1280x800, loopback`);
  console.log(`(workflow ${small.id} from code_review; workflow ${wfId} with ${NTASKS} tasks)`);
  console.log(await measurePage(browser, 'overview', '/'));
  console.log(await measurePage(browser, `workflow with ${NTASKS} tasks`, `/#/workflows/${wfId}`));
} finally {
  await browser.close();
}
