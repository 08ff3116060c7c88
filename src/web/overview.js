// The overview: today's totals (since the viewer's midnight) against the daily
// budget, the agents as cards with their counters and queues, workflows in
// flight with progress bars, and the latest workflows. Every task or workflow
// event re-reads what it shows (coalesced), so the numbers move as work does.

import { api, state, loadConfig, h, coalesce, fmtInt, fmtUsd, fmtMs, fmtPct, fmtTime, badge, section, tile, localMidnight, timeZone, report, put } from './core.js';

async function load() {
  const from = localMidnight();
  const [agents, stats, ov, running, pending, recent] = await Promise.all([
    api('/api/v1/agents'),
    api('/api/v1/stats'),
    api('/api/v1/dashboard/overview?from=' + encodeURIComponent(from)),
    api('/api/v1/workflows?status=running&limit=50'),
    api('/api/v1/workflows?status=pending&limit=50'),
    api('/api/v1/workflows?limit=10'),
    loadConfig(),
  ]);
  return { agents: agents.items, stats: stats.items, ov, inflight: [...running.items, ...pending.items], recent: recent.items };
}

function progress(wf) {
  const total = wf.total_tasks || 0;
  const done = (wf.completed_tasks || 0) + (wf.failed_tasks || 0);
  const pct = total ? Math.round((100 * done) / total) : 0;
  return h('div.progress', { role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': total, 'aria-valuenow': done, 'aria-label': `${wf.name}: ${done} of ${total} tasks done` },
    h('div.bar', { style: { width: pct + '%' } }),
    h('span.progress-text', { text: `${done}/${total}` }));
}

function budgetTile(cost) {
  const budget = state.config && state.config.daily_budget_usd;
  if (!budget) return tile('Cost today', fmtUsd(cost));
  const over = Number(cost) > Number(budget);
  const pct = Math.min(100, (100 * Number(cost)) / Number(budget));
  return tile('Cost today', fmtUsd(cost),
    h('div', null,
      h('div.progress.small' + (over ? '.over' : ''), { role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': Number(budget), 'aria-valuenow': Number(cost), 'aria-label': 'spend against the daily budget' }, h('div.bar', { style: { width: pct + '%' } })),
      h('div.tile-sub' + (over ? '.warn' : ''), { 'data-testid': 'budget-state', text: over ? `over the ${fmtUsd(budget)} budget` : `of ${fmtUsd(budget)} budget` })));
}

function agentCard(a, st, q) {
  st = st || {};
  q = q || {};
  return h('a.card.agent-card', { href: `#/agents/${encodeURIComponent(a.id)}`, 'data-testid': 'agent-card', 'data-agent': a.id },
    h('div.card-head', null,
      h('span.emoji', { 'aria-hidden': 'true', text: a.personality_emoji || '🤖' }),
      h('div', null, h('div.card-title', { text: a.name }), h('div.muted', { text: a.role })),
      badge(a.status)),
    h('div.muted.small', { text: a.model }),
    h('dl.kv', null,
      h('dt', { text: 'Completed' }), h('dd', { text: fmtInt(st.completed_tasks) }),
      h('dt', { text: 'Success' }), h('dd', { text: fmtPct(st.success_rate) }),
      h('dt', { text: 'Tokens' }), h('dd', { text: fmtInt(st.total_tokens) }),
      h('dt', { text: 'Cost' }), h('dd', { text: fmtUsd(st.total_cost ?? st.total_cost_usd) }),
      h('dt', { text: 'Avg latency' }), h('dd', { text: fmtMs(st.avg_duration_ms) }),
      h('dt', { text: 'Running' }), h('dd', { 'data-testid': 'running', text: fmtInt(q.running || 0) }),
      h('dt', { text: 'Queue' }), h('dd', { 'data-testid': 'queue', text: `${fmtInt(q.ready || 0)} ready / ${fmtInt(q.pending || 0)} pending` })));
}

function wfRow(wf) {
  return h('li.wf', { 'data-testid': 'workflow-row', 'data-workflow': wf.id, 'data-status': wf.status },
    h('a', { href: `#/workflows/${wf.id}`, text: wf.name }),
    badge(wf.status),
    h('span.muted.small', { text: fmtTime(wf.created_at) }),
    progress(wf));
}

function draw(root, d) {
  const t = d.ov.totals;
  const byStats = new Map(d.stats.map((s) => [s.id, s]));
  const byQueue = new Map(d.ov.agents.map((q) => [q.agent_id, q]));
  put(root,
    h('h1', { text: 'Overview' }),
    h('section.tiles', { 'aria-label': `Today (since midnight, ${timeZone})` },
      tile('Tasks today', fmtInt(t.tasks_completed)),
      tile('Tokens today', fmtInt(t.tokens)),
      budgetTile(t.cost_usd),
      tile('Failures today', (t.tasks_failed_capped ? '≥ ' : '') + fmtInt(t.tasks_failed))),
    section('Agents', h('div.cards', { 'data-testid': 'agents' }, d.agents.map((a) => agentCard(a, byStats.get(a.id), byQueue.get(a.id))))),
    section('Workflows in flight',
      d.inflight.length ? h('ul.wfs', { 'data-testid': 'inflight' }, d.inflight.map(wfRow)) : h('p.muted', { 'data-testid': 'inflight', text: 'Nothing running.' })),
    section('Latest workflows', d.recent.length ? h('ul.wfs', { 'data-testid': 'recent' }, d.recent.map(wfRow)) : h('p.muted', { text: 'No workflows yet.' })));
}

export async function render(root) {
  document.title = 'Overview · tokyoia';
  draw(root, await load());
  root.dataset.ready = '1';
  let alive = true;
  const refresh = coalesce(async () => {
    try {
      const d = await load();
      if (alive) draw(root, d);
    } catch (ex) {
      if (alive) report(ex);
    }
  }, 300);
  return {
    onEvent: () => refresh(),
    destroy: () => { alive = false; refresh.cancel(); },
  };
}
