// Cost: spend per agent and per model over a chosen range (hour or day buckets,
// from /api/v1/dashboard/costs), today's spend (since the viewer's midnight)
// against the server's daily budget (tokyoia serve --daily-budget) with a
// warning once it is crossed, and the totals of the range. Task events re-read
// it (coalesced).

import { api, state, loadConfig, h, coalesce, section, tile, fmtUsd, fmtInt, localMidnight, timeZone, report, keepFocus, put } from './core.js';
import {chart, rangePicker, rangeOf, rangeNow} from './chart.js';

let range = { preset: '7d', bucket: 'day', ...rangeOf('7d') };

async function load() {
    range = rangeNow(range);
    const q = new URLSearchParams({from : range.from, to : range.to, bucket : range.bucket});
    const [costs, ov] = await Promise.all([
        api('/api/v1/dashboard/costs?' + q),
        api('/api/v1/dashboard/overview?from=' + encodeURIComponent(localMidnight())),
        loadConfig(),
    ]);
    return {costs, today : ov.totals.cost_usd};
}

// Rows of [Date, one value per group] over the union of the groups' buckets.
function rows(groups) {
  const starts = [...new Set(groups.flatMap((g) => g.points.map((p) => p.start)))].sort();
  const idx = new Map(starts.map((s, i) => [s, i]));
  const out = starts.map((s) => [new Date(s), ...groups.map(() => 0)]);
  groups.forEach((g, j) => { for (const p of g.points) out[idx.get(p.start)][j + 1] = Number(p.cost_usd); });
  return out;
}

const sum = (points, key) => points.reduce((a, p) => a + Number(p[key]), 0);

function totalsTable(title, groups, nameOf) {
  const list = groups.map((g) => ({ name: nameOf(g), cost: sum(g.points, 'cost_usd'), tokens: sum(g.points, 'tokens') })).sort((a, b) => b.cost - a.cost);
  return h('div.table-wrap', null, h('table', null,
    h('caption', { text: title }),
    h('thead', null, h('tr', null, h('th', { scope: 'col', text: 'Name' }), h('th', { scope: 'col', text: 'Spend' }), h('th', { scope: 'col', text: 'Tokens' }))),
    h('tbody', null, list.map((r) => h('tr', null, h('td', { text: r.name }), h('td', { text: fmtUsd(r.cost) }), h('td', { text: fmtInt(r.tokens) }))))));
}

export async function render(root) {
  let alive = true;
  document.title = 'Cost · tokyoia';
  const draw = async (d) => {
    const c = d.costs;
    const budget = c.daily_budget_usd !== null ? Number(c.daily_budget_usd) : (state.config && state.config.daily_budget_usd ? Number(state.config.daily_budget_usd) : null);
    const over = budget !== null && Number(d.today) > budget;
    const fmt = (v) => fmtUsd(v);
    // The whole chosen range on the x axis, so that one point sits where it belongs.
    const extra = { dateWindow: [Date.parse(range.from), Date.parse(range.to)] };
    const total = { points: c.total };
    const totalRows = rows([total]);
    let totalLabels = ['total'];
    if (budget !== null && range.bucket === 'day') {
      totalLabels = ['total', 'daily budget'];
      for (const r of totalRows) r.push(budget);
    }
    const [chTotal, chAgents, chModels] = await Promise.all([
      chart({ title: `Total spend by ${range.bucket}`, labels: totalLabels, rows: totalRows, ylabel: 'USD', fmt, testid: 'chart-total', extra }),
      chart({ title: `Spend per agent by ${range.bucket}`, labels: c.agents.map((a) => a.name || a.agent_id), rows: rows(c.agents), ylabel: 'USD', fmt, testid: 'chart-agents', extra }),
      chart({ title: `Spend per model by ${range.bucket}`, labels: c.models.map((m) => m.model), rows: rows(c.models), ylabel: 'USD', fmt, testid: 'chart-models', extra }),
    ]);
    if (!alive) return;
    const overDays = budget !== null && range.bucket === 'day' ? c.total.filter((p) => Number(p.cost_usd) > budget).length : 0;
    keepFocus(
        () => put(
            root, h('h1', {text : 'Cost'}),
            over ? h('div.warning', {role : 'alert', 'data-testid' : 'budget-warning'},
                     `Today's spend, ${fmtUsd(d.today)}, is over the daily budget of ${
                         fmtUsd(budget)}.`)
                 : null,
            h('section.tiles', null, tile(`Spent today (${timeZone})`, fmtUsd(d.today)),
              tile('Daily budget', budget !== null ? fmtUsd(budget) : 'none',
                   budget === null ? h('div.tile-sub', null, 'set with ',
                                       h('code', {text : 'tokyoia serve --daily-budget 25'}))
                                   : null),
              tile('Spent in range', fmtUsd(sum(c.total, 'cost_usd'))),
              tile('Tokens in range', fmtInt(sum(c.total, 'tokens')),
                   overDays ? h('div.tile-sub.warn',
                                {text : `${overDays} day(s) over budget (UTC days)`})
                            : null)),
            section(
                'Over time',
                rangePicker(range,
                            (r) => {
                                range = r;
                                refresh();
                            }),
                h('div.charts', null, chTotal, chAgents, chModels),
                h('p.muted.small',
                  {
                      text :
                          'Buckets start on UTC hours and days; spend is counted when a task completes; a model is each agent\'s current one.'
                  })),
            section('Totals in range',
                    h('div.two', null,
                      totalsTable('Per agent', c.agents, (a) => a.name || a.agent_id),
                      totalsTable('Per model', c.models, (m) => m.model)),
                    c.agents_total > c.agents.length ? h('p.muted.small', {
                        'data-testid' : 'agents-truncated',
                        text : `Per agent and per model: the first ${c.agents.length} of ${
                            c.agents_total} agents (by id). The total counts them all.`
                    })
                                                     : null)));
    root.dataset.ready = '1';
  };
  const refresh = coalesce(async () => {
    try {
      const d = await load();
      if (alive) await draw(d);
    } catch (ex) {
      if (alive) report(ex);
    }
  }, 1000);
  await draw(await load());
  return {
    onEvent: (ev) => { if (ev.kind === 'reset' || (ev.kind === 'task' && ev.status === 'completed')) refresh(); },
    destroy: () => { alive = false; refresh.cancel(); },
  };
}
