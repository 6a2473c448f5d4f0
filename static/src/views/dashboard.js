// Leads' dashboard: service metrics as number cards, a chart (uPlot, loaded only here) and
// a table that carries the same figures for screen readers.
import uPlot from 'uplot';
import { h, replace, uid } from '../ui/dom.js';
import { t, fmtNumber, fmtPercent, fmtDate, getLocale } from '../i18n.js';
import { api, token } from '../session.js';
import { API_BASE } from '../core/http.js';
import { loading, errorState, staleNotice, pageHeader } from '../ui/parts.js';
import { errorText } from '../ui/errors.js';
import { toast } from '../ui/toast.js';

/* global __DASHBOARD_CSS__ */
function ensureCss() {
  if (document.querySelector('link[data-dashboard-css]')) return;
  document.head.append(h('link', { rel: 'stylesheet', href: __DASHBOARD_CSS__, 'data-dashboard-css': '1' }));
}

const METRICS = [
  { key: 'service_rate', kind: 'per10k' },
  { key: 'manual_service_rate', kind: 'per10k' },
  { key: 'work_order_rate', kind: 'per10k' },
  { key: 'resolved_share', kind: 'share' },
  { key: 'resolution_score_mean', kind: 'score' },
  { key: 'effort_overall', kind: 'number' },
  { key: 'on_time_rate', kind: 'share' },
];
const GROUPS = ['', 'day', 'template', 'department', 'category'];
const PERIODS = ['7d', '30d', '90d', 'month', 'custom'];

function fmtMetric(m, v) {
  if (v === null || v === undefined) return '—';
  if (m.kind === 'share') return fmtPercent(v);
  if (m.kind === 'score') return `${fmtNumber(v, 2)} / 4`;
  if (m.kind === 'per10k') return fmtNumber(v, 2);
  return fmtNumber(v, 2);
}

const iso = (d) => {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
};

function range(period, from, to) {
  const now = new Date();
  const end = iso(now);
  if (period === 'custom') return { from, to };
  if (period === 'month') return { from: iso(new Date(now.getFullYear(), now.getMonth(), 1)), to: end };
  const days = { '7d': 7, '30d': 30, '90d': 90 }[period] || 30;
  return { from: iso(new Date(now.getTime() - (days - 1) * 86400000)), to: end };
}

export function dashboardView(el) {
  ensureCss();
  const state = { period: '30d', from: '', to: '', group: 'day', metric: 'on_time_rate' };
  let plot = null;
  let data = null;
  const sel = (label, options, value) => {
    const id = uid('d');
    const s = h('select.input', { id }, options.map(([v, l]) => h('option', { value: v }, l)));
    s.value = value;
    return { s, el: h('div.field', h('label', { for: id }, label), s) };
  };
  const period = sel(t('dash.period'), PERIODS.map((p) => [p, t(`dash.period.${p}`)]), state.period);
  const group = sel(t('dash.group_by'), GROUPS.map((g) => [g, t(`dash.group.${g || 'none'}`)]), state.group);
  const metric = sel(t('dash.chart_metric'), METRICS.map((m) => [m.key, t(`metric.${m.key}`)]), state.metric);
  const fromId = uid('from');
  const toId = uid('to');
  const fromIn = h('input.input', { id: fromId, type: 'date' });
  const toIn = h('input.input', { id: toId, type: 'date' });
  const custom = h('div.input-pair', { hidden: true },
    h('div', h('label', { for: fromId }, t('dash.from')), fromIn), h('div', h('label', { for: toId }, t('dash.to')), toIn));
  const exportBtn = h('button.btn.btn-secondary', { type: 'button' }, t('dash.export'));
  const controls = h('form.filters', { novalidate: true, 'aria-label': t('dash.controls') }, h('div.filter-grid', period.el, group.el), custom);
  const body = h('div.dash-body');
  el.append(h('div.page.page-dashboard', pageHeader(t('dash.title'), { actions: exportBtn }), controls, body));

  const query = () => {
    const r = range(state.period, state.from, state.to);
    const qs = new URLSearchParams();
    if (r.from) qs.set('from', r.from);
    if (r.to) qs.set('to', r.to);
    if (state.group) qs.set('group_by', state.group);
    return qs;
  };

  function drawChart(box) {
    if (plot) {
      plot.destroy();
      plot = null;
    }
    const groups = (data && data.groups) || [];
    const m = METRICS.find((x) => x.key === state.metric);
    if (!groups.length) {
      replace(box, h('p.muted', t('dash.no_groups')));
      return;
    }
    const width = Math.max(280, box.clientWidth || 320);
    const values = groups.map((g) => (g[m.key] === null || g[m.key] === undefined ? null : Number(g[m.key]) * (m.kind === 'share' ? 100 : 1)));
    const isDay = state.group === 'day';
    const xs = isDay ? groups.map((g) => Date.parse(g.key) / 1000) : groups.map((_, i) => i);
    const fmtY = (v) => (v === null ? '—' : m.kind === 'share' ? `${fmtNumber(v, 1)}%` : fmtNumber(v, 2));
    const opts = {
      width,
      height: 240,
      title: t(`metric.${m.key}`),
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: isDay, range: isDay ? undefined : [-0.5, groups.length - 0.5] }, y: { range: (u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } },
      axes: [
        isDay
          ? { stroke: '#374151', grid: { stroke: '#e5e7eb' } }
          : {
            stroke: '#374151',
            grid: { show: false },
            // One label per ~64 px so category names never overlap.
            splits: () => xs.filter((i) => i % Math.max(1, Math.ceil(groups.length / Math.max(1, Math.floor((width - 80) / 64)))) === 0),
            values: (u, splits) => splits.map((i) => String((groups[i] || {}).key ?? '').slice(0, 10)),
          },
        { stroke: '#374151', grid: { stroke: '#e5e7eb' }, values: (u, splits) => splits.map(fmtY), size: 56 },
      ],
      series: [
        {},
        isDay
          ? { label: t(`metric.${m.key}`), stroke: '#0a4fa3', width: 2, fill: 'rgba(10,79,163,0.12)', points: { show: true, size: 6 }, value: (u, v) => fmtY(v) }
          : { label: t(`metric.${m.key}`), stroke: '#0a4fa3', fill: 'rgba(10,79,163,0.8)', paths: uPlot.paths.bars({ size: [0.6, 64] }), points: { show: false }, value: (u, v) => fmtY(v) },
      ],
      fmtDate: () => (d) => new Intl.DateTimeFormat(getLocale(), { month: 'short', day: 'numeric' }).format(d),
    };
    replace(box);
    plot = new uPlot(opts, [xs, values], box);
    const canvas = box.querySelector('canvas');
    if (canvas) {
      canvas.setAttribute('role', 'img');
      canvas.setAttribute('aria-label', t('dash.chart_alt', { metric: t(`metric.${m.key}`) }));
    }
  }

  function draw(cachedAt) {
    const cards = METRICS.map((m) => h('div.stat', h('p.stat-value', fmtMetric(m, data[m.key])), h('p.stat-label', t(`metric.${m.key}`)), h('p.stat-hint', t(`metric.${m.key}.hint`))));
    const groups = data.groups || [];
    const chartBox = h('div.chart', { 'aria-hidden': 'false' });
    const table = groups.length
      ? h('div.table-wrap', { tabindex: '0', role: 'region', 'aria-label': t('dash.table') }, h('table.data-table',
        h('caption', t('dash.table_caption', { group: t(`dash.group.${state.group || 'none'}`) })),
        h('thead', h('tr', h('th', { scope: 'col' }, t(`dash.group.${state.group || 'none'}`)), METRICS.map((m) => h('th', { scope: 'col' }, t(`metric.${m.key}.short`))))),
        h('tbody', groups.map((g) => h('tr', h('th', { scope: 'row' }, state.group === 'day' ? fmtDate(g.key) : String(g.key ?? '')), METRICS.map((m) => h('td', fmtMetric(m, g[m.key]))))))))
      : null;
    replace(body,
      staleNotice(cachedAt),
      h('div.stat-grid', cards),
      state.group ? h('section.section', h('h2.section-title', t('dash.chart_title')), metric.el, chartBox) : null,
      table ? h('section.section', h('h2.section-title', t('dash.table')), table) : null);
    if (state.group) requestAnimationFrame(() => drawChart(chartBox));
  }

  async function load() {
    if (state.period === 'custom' && (!state.from || !state.to)) {
      replace(body, h('p.muted', t('dash.pick_dates')));
      return;
    }
    replace(body, loading());
    try {
      const res = await api('GET', `/metrics/summary?${query()}`);
      data = res.data || {};
      if (el.isConnected) draw(res.cachedAt);
    } catch (err) {
      replace(body, errorState(errorText(err), load));
    }
  }

  period.s.addEventListener('change', () => {
    state.period = period.s.value;
    custom.hidden = state.period !== 'custom';
    load();
  });
  group.s.addEventListener('change', () => {
    state.group = group.s.value;
    load();
  });
  metric.s.addEventListener('change', () => {
    state.metric = metric.s.value;
    const box = body.querySelector('.chart');
    if (box) drawChart(box);
  });
  const onDates = () => {
    state.from = fromIn.value;
    state.to = toIn.value;
    if (state.from && state.to) load();
  };
  fromIn.addEventListener('change', onDates);
  toIn.addEventListener('change', onDates);
  exportBtn.addEventListener('click', async () => {
    exportBtn.disabled = true;
    try {
      const res = await fetch(`${API_BASE}/metrics/export.csv?${query()}`, { headers: { Authorization: `Bearer ${token()}` } });
      if (!res.ok) throw Object.assign(new Error('export'), { status: res.status, code: `http_${res.status}` });
      const blob = await res.blob();
      const a = h('a', { href: URL.createObjectURL(blob), download: `baton-metrics-${query().get('from') || ''}-${query().get('to') || ''}.csv` });
      document.body.append(a);
      a.click();
      setTimeout(() => {
        URL.revokeObjectURL(a.href);
        a.remove();
      }, 1000);
    } catch (err) {
      toast(errorText(err), 'error');
    } finally {
      exportBtn.disabled = false;
    }
  });
  let resizeTimer;
  const onResize = () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      const box = body.querySelector('.chart');
      if (plot && box) plot.setSize({ width: Math.max(280, box.clientWidth), height: 240 });
    }, 150);
  };
  window.addEventListener('resize', onResize);
  load();
  return () => {
    window.removeEventListener('resize', onResize);
    if (plot) plot.destroy();
  };
}

