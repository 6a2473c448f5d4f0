// The flow designer's graph: steps as cards placed by dagre (a layered layout of the `after` edges), condition
// branches as labelled edges, the default branch marked. Cards are buttons over an SVG of the edges, so they are
// read and reached like any other control; the layout is recomputed from the draft on every change.
import { graphlib, layout } from '@dagrejs/dagre';
import { h } from '../ui/dom.js';
import { t, tMaybe } from '../i18n.js';
import { simulatedLine } from './designer-simulate.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
const CARD_W = 220;
const CARD_H = 92;
const svg = (tag, attrs = {}) => {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
};

/** A condition in a few words ("triage: accepted", "order_amount > 100"), for an edge's label. */
export function conditionText(when) {
  if (!when || typeof when !== 'object') return '';
  if (when.outcome) return `${when.outcome.step}: ${(when.outcome.in || []).join(' / ')}`;
  if (when.field) {
    const ops = { eq: '=', ne: '≠', gt: '>', gte: '≥', lt: '<', lte: '≤', in: '∈', contains: '∋', empty: '∅' };
    return `${when.field} ${ops[when.op] || when.op}${when.op === 'empty' ? '' : ` ${JSON.stringify(when.value)}`}`;
  }
  const join = (list, word) => (list || []).map(conditionText).join(` ${word} `);
  if (when.all) return join(when.all, t('designer.and'));
  if (when.any) return join(when.any, t('designer.or'));
  if (when.not) return `${t('designer.not')} (${conditionText(when.not)})`;
  return '…';
}

const clip = (text, n = 28) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

/** Where each step goes, and each edge's route: {width, height, nodes: {key: {x, y}}, edges: [{from, to, points, label}]}. */
export function place(steps) {
  const g = new graphlib.Graph({ multigraph: false });
  g.setGraph({ rankdir: 'TB', nodesep: 32, ranksep: 44, edgesep: 16, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  const keys = new Set(steps.map((s) => s.key));
  // dagre lays siblings out right to left in the order they are given: given backwards, branches read left to right
  // in the template's order (which "Move left" and "Move right" change).
  const backwards = [...steps].reverse();
  backwards.forEach((s) => g.setNode(s.key, { width: CARD_W, height: CARD_H }));
  for (const s of backwards) {
    const label = s.default ? `★ ${t('designer.default_branch')}` : clip(conditionText(s.when));
    for (const p of new Set(s.after || [])) {
      if (!keys.has(p) || p === s.key) continue; // a dangling or self reference: the server names it on the card
      g.setEdge(p, s.key, label ? { label, width: label.length * 7 + 12, height: 20, labelpos: 'c', isDefault: !!s.default } : {});
    }
  }
  try {
    layout(g);
  } catch {
    // A cycle the admin is in the middle of drawing: a plain row until the server's message has them fix it.
    steps.forEach((s, i) => g.setNode(s.key, { width: CARD_W, height: CARD_H, x: 16 + CARD_W / 2 + i * (CARD_W + 36), y: 16 + CARD_H / 2 }));
    return { width: 32 + steps.length * (CARD_W + 36), height: CARD_H + 32, nodes: Object.fromEntries(steps.map((s) => [s.key, g.node(s.key)])), edges: [] };
  }
  const info = g.graph();
  return {
    width: Math.ceil(info.width || CARD_W),
    height: Math.ceil(info.height || CARD_H),
    nodes: Object.fromEntries(g.nodes().map((k) => [k, g.node(k)])),
    edges: g.edges().map((e) => ({ from: e.v, to: e.w, ...g.edge(e) })),
  };
}

const assigneeText = (spec, names) => {
  if (!spec) return '';
  const parts = [
    ...(spec.departments || []).map((id) => names.department(id)),
    ...(spec.groups || []).map((id) => names.group(id)),
    ...(spec.users || []).map((id) => names.user(id)),
    ...(spec.roles || []).map((r) => `${tMaybe(`role.${r.role}`, r.role)}${r.department ? ` · ${names.department(r.department)}` : ''}`),
    spec.from_data ? `data.${spec.from_data}` : null,
  ].filter(Boolean);
  return parts.join('、');
};

/** Draw the graph into `el`: cards (buttons) for steps, edges for `after`; `problems(i)` lists a step's messages. */
export function drawGraph(el, { steps, selected, problems, names, onSelect, onConnect = null, readOnly = false, simulated = null }) {
  const placed = place(steps);
  const canvas = h('div.flow-canvas');
  Object.assign(canvas.style, { width: `${placed.width}px`, height: `${placed.height}px` });
  const lines = svg('svg', { width: placed.width, height: placed.height, class: 'flow-edges', 'aria-hidden': 'true' });
  const defs = svg('defs');
  const marker = svg('marker', { id: 'flow-arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  marker.append(svg('path', { d: 'M0 0L10 5L0 10z', class: 'flow-arrowhead' }));
  defs.append(marker);
  lines.append(defs);
  for (const edge of placed.edges) {
    const pts = edge.points || [];
    if (!pts.length) continue;
    const d = pts.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(' ');
    lines.append(svg('path', { d, class: `flow-edge${edge.label ? ' flow-edge-branch' : ''}${edge.isDefault ? ' flow-edge-default' : ''}`,
      'marker-end': 'url(#flow-arrow)', 'data-from': edge.from, 'data-to': edge.to }));
  }
  canvas.append(lines);
  for (const edge of placed.edges) {
    if (!edge.label) continue;
    const label = h(`span.flow-edge-label${edge.isDefault ? '.flow-edge-label-default' : ''}`, {
      dataset: { from: edge.from, to: edge.to }, title: edge.label,
    }, edge.label);
    Object.assign(label.style, { left: `${edge.x}px`, top: `${edge.y}px` });
    canvas.append(label);
  }
  steps.forEach((step, i) => {
    const node = placed.nodes[step.key];
    if (!node) return;
    const issues = problems(i);
    const facts = [tMaybe(`mode.${step.mode || 'pool'}`, step.mode || 'pool'), step.sla ? `SLA ${step.sla}` : null].filter(Boolean).join(' · ');
    const attrs = {
      type: readOnly ? false : 'button',
      dataset: { step: step.key }, 'aria-pressed': readOnly ? false : String(selected === step.key),
      'aria-invalid': issues.length ? 'true' : false, 'aria-describedby': issues.length ? `flow-issue-${i}` : false,
      onclick: readOnly ? null : () => onSelect(step.key),
    };
    const sim = simulated ? simulated.steps.get(step.key) : null;
    const simClass = sim ? `.flow-card-sim.flow-card-sim-${sim.status}` : '';
    if (sim) attrs.title = [simulatedLine(sim, simulated.people), sim.due_explained].filter(Boolean).join('\n');
    const card = h(`${readOnly ? 'div' : 'button'}.flow-card${selected === step.key ? '.flow-card-selected' : ''}${issues.length ? '.flow-card-error' : ''}${simClass}`, attrs,
      h('span.flow-card-title', step.title || step.key),
      sim ? h('span.flow-card-simline', { dataset: { status: sim.status } }, simulatedLine(sim, simulated.people)) : null,
      h('span.flow-card-meta', `${step.key} · ${facts}`),
      h('span.flow-card-who', assigneeText(step.assignees, names) || (step.for_each ? `for_each ${step.for_each}` : '—')),
      // What the drawing shows, said in words: what the step follows and on which condition.
      h('span.sr-only', (step.after || []).length ? t('designer.card_follows', {
        steps: step.after.join(', '), when: step.default ? t('designer.default_branch') : conditionText(step.when) || '—',
      }) : t('designer.card_first')),
      issues.length ? h('span.flow-card-issue', { id: `flow-issue-${i}` }, `⚠ ${issues[0]}${issues.length > 1 ? ` (+${issues.length - 1})` : ''}`) : null);
    Object.assign(card.style, { left: `${node.x - CARD_W / 2}px`, top: `${node.y - CARD_H / 2}px`, width: `${CARD_W}px`, height: `${CARD_H}px` });
    canvas.append(card);
    if (!readOnly && onConnect) {
      // A handle under the card: dragged onto another card, that step comes after this one too. The panel's
      // "Comes after" list does the same with the keyboard, so the handle is hidden from assistive technology.
      const port = h('span.flow-port', { dataset: { from: step.key }, title: t('designer.links.drag'), 'aria-hidden': 'true' });
      Object.assign(port.style, { left: `${node.x}px`, top: `${node.y + CARD_H / 2}px` });
      port.addEventListener('pointerdown', (e) => drag(e, step.key, { x: node.x, y: node.y + CARD_H / 2 }));
      canvas.append(port);
    }
  });

  /** Drawing a new edge from `from`'s handle: a line follows the pointer; released over a card, it connects. */
  function drag(e, from, start) {
    e.preventDefault();
    const port = e.currentTarget;
    port.setPointerCapture(e.pointerId);
    const line = svg('path', { class: 'flow-edge flow-edge-drawing', 'marker-end': 'url(#flow-arrow)' });
    lines.append(line);
    let over = null;
    const target = (ev) => {
      const hit = document.elementFromPoint(ev.clientX, ev.clientY);
      const card = hit && hit.closest ? hit.closest('.flow-card') : null;
      return card && canvas.contains(card) && card.dataset.step !== from ? card : null;
    };
    const move = (ev) => {
      const box = canvas.getBoundingClientRect();
      line.setAttribute('d', `M${start.x} ${start.y} L${(ev.clientX - box.left).toFixed(1)} ${(ev.clientY - box.top).toFixed(1)}`);
      const card = target(ev);
      if (card !== over) {
        if (over) over.classList.remove('flow-card-drop');
        over = card;
        if (over) over.classList.add('flow-card-drop');
      }
    };
    const end = (ev) => {
      port.removeEventListener('pointermove', move);
      port.removeEventListener('pointerup', end);
      port.removeEventListener('pointercancel', end);
      line.remove();
      if (over) over.classList.remove('flow-card-drop');
      const card = ev.type === 'pointerup' ? target(ev) : null;
      if (card) onConnect(from, card.dataset.step);
    };
    port.addEventListener('pointermove', move);
    port.addEventListener('pointerup', end);
    port.addEventListener('pointercancel', end);
  }

  el.replaceChildren(canvas);
  return placed;
}
