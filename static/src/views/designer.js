// The flow designer (#/admin/flows, #/admin/flows/:key), its own lazy chunk: the templates, and one template as a
// graph of step cards (laid out by dagre), the selected step's panel and the template's JSON, all three kept in
// step. Every change is checked by the server (POST /templates/validate, debounced) and its messages are shown on the
// card and the field they concern; Publish makes the new version. Undo and redo cover the session; leaving with
// unsaved changes asks first. A phone gets the graph, read-only.
import { h, icon, replace } from '../ui/dom.js';
import { t } from '../i18n.js';
import * as session from '../session.js';
import { navigate, setLeaveGuard } from '../router.js';
import { toast } from '../ui/toast.js';
import { errorText } from '../ui/errors.js';
import { confirmDialog, openDialog } from '../ui/dialog.js';
import { loading, emptyState, errorState } from '../ui/parts.js';
import { shell, allOf, textField, saveError } from './admin.js';
import { drawGraph } from './designer-graph.js';
import { templatePanel, stepPanel, showProblems, laterSteps } from './designer-panel.js';
import { STYLE } from './designer-style.js';
import { simulatePanel } from './designer-simulate.js';
import { compareVersions } from './designer-diff.js';

const BODY_FIELDS = ['key', 'name', 'description', 'priority', 'classification', 'owner_department_id', 'form', 'steps'];
const CHECK_DELAY = 600;

// A constructed style sheet: the app's CSP allows no inline <style> (nor style attributes; positions are set via CSSOM).
let sheet = null;
function useStyle() {
  if (sheet) return;
  sheet = new CSSStyleSheet();
  sheet.replaceSync(STYLE);
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
}

const bodyOf = (template) => Object.fromEntries(BODY_FIELDS.filter((k) => k in template).map((k) => [k, template[k]]));
const put = (path, body) => session.api('PUT', path, { body }).then((r) => r.data);

// ------------------------------------------------------------------ the templates
export function flowsView(el) {
  useStyle();
  const list = h('div.admin-list', loading());
  const cleanup = shell(el, 'flows',
    h('div.page-head-row', h('p.hint', t('designer.list_hint')),
      h('button.btn.btn-primary', { type: 'button', onclick: () => create() }, icon('plus'), h('span', t('designer.new_template')))),
    list);

  async function load() {
    try {
      const res = await session.get('/templates?include_inactive=true&per_page=500');
      replace(list, res.items.length ? h('table.flow-table',
        h('thead', h('tr', ['designer.col.name', 'designer.col.key', 'designer.col.version', 'designer.col.steps', 'designer.col.active', 'designer.col.actions']
          .map((k) => h('th', { scope: 'col' }, t(k))))),
        h('tbody', res.items.map((tpl) => h('tr', { dataset: { key: tpl.key } },
          h('td', h('a', { href: `#/admin/flows/${encodeURIComponent(tpl.key)}` }, tpl.name), tpl.system ? h('span.chip', t('designer.system')) : null),
          h('td', h('code', tpl.key)),
          h('td', String(tpl.version)),
          h('td', String(tpl.steps.length)),
          h('td', tpl.active ? t('designer.active') : h('span.chip.chip-cancelled', t('designer.inactive'))),
          h('td.button-row',
            h('a.btn.btn-small.btn-secondary', { href: `#/admin/flows/${encodeURIComponent(tpl.key)}` }, t('designer.open')),
            h('button.btn.btn-small.btn-secondary', { type: 'button', onclick: () => duplicate(tpl) }, t('designer.duplicate')),
            tpl.system && tpl.active ? null : h(`button.btn.btn-small.${tpl.active ? 'btn-danger-text' : 'btn-secondary'}`,
              { type: 'button', onclick: () => toggle(tpl) }, tpl.active ? t('designer.deactivate') : t('designer.activate')))))))
        : emptyState(t('designer.none')));
    } catch (err) {
      replace(list, errorState(errorText(err), load));
    }
  }

  async function ask(title, key, name, confirmLabel) {
    const k = textField(t('designer.field.key'), key, { maxlength: 64, autocapitalize: 'none', spellcheck: false });
    const n = textField(t('designer.field.name'), name, { maxlength: 200 });
    return openDialog({
      title, confirmLabel, body: h('div.fields', k.field, h('p.hint', t('designer.key_hint')), n.field),
      collect: () => ({ key: k.input.value.trim(), name: n.input.value.trim() }),
      validate: (v) => (!v.key || !v.name ? t('form.required') : null),
    });
  }

  async function create() {
    for (let v = await ask(t('designer.new_template'), '', '', t('designer.start_drawing')); v;
      v = await ask(t('designer.new_template'), v.key, v.name, t('designer.start_drawing'))) {
      // A key in use would only be refused at the first Publish (409): say so now.
      const taken = await session.get(`/templates/${encodeURIComponent(v.key)}`).then(() => true, () => false);
      if (!taken) {
        navigate(`/admin/flows/${encodeURIComponent(v.key)}?new=1&name=${encodeURIComponent(v.name)}`);
        return;
      }
      toast(t('designer.key_taken', { key: v.key }), 'error', 8000);
    }
  }

  async function duplicate(tpl) {
    for (let v = await ask(t('designer.duplicate_title', { name: tpl.name }), `${tpl.key}_copy`, `${tpl.name} (2)`, t('designer.duplicate'));
      v; v = await ask(t('designer.duplicate_title', { name: tpl.name }), v.key, v.name, t('designer.duplicate'))) {
      try {
        const made = await session.post('/templates', { ...bodyOf(tpl), key: v.key, name: v.name });
        toast(t('designer.duplicated', { name: made.name }), 'ok');
        navigate(`/admin/flows/${encodeURIComponent(made.key)}`);
        return;
      } catch (err) {
        toast(saveError(err), 'error', 8000);
      }
    }
  }

  async function toggle(tpl) {
    if (tpl.active && !(await confirmDialog(t('designer.deactivate_title', { name: tpl.name }), t('designer.deactivate_body'),
      { confirmLabel: t('designer.deactivate'), danger: true }))) return;
    try {
      await session.patch(`/templates/${encodeURIComponent(tpl.key)}`, { active: !tpl.active });
      toast(t(tpl.active ? 'designer.deactivated' : 'designer.activated', { name: tpl.name }), 'ok');
      load();
    } catch (err) {
      toast(saveError(err), 'error', 8000);
    }
  }

  load();
  return cleanup;
}

// ------------------------------------------------------------------ one template
export function designerView(el, params, query) {
  useStyle();
  const key = params.key;
  const isPhone = matchMedia('(max-width: 47.99rem)').matches;
  const status = h('p.flow-status', { role: 'status', 'aria-live': 'polite' });
  const problemsBox = h('ul.flow-problems', { hidden: true });
  const undoBtn = h('button.btn.btn-small.btn-secondary', { type: 'button', disabled: true, 'aria-keyshortcuts': 'Control+Z' }, t('designer.undo'));
  const redoBtn = h('button.btn.btn-small.btn-secondary', { type: 'button', disabled: true, 'aria-keyshortcuts': 'Control+Y' }, t('designer.redo'));
  const publishBtn = h('button.btn.btn-primary', { type: 'button' }, t('designer.publish'));
  const simulateBtn = h('button.btn.btn-small.btn-secondary', { type: 'button', 'aria-pressed': 'false' }, t('designer.sim.open'));
  const compareBtn = h('button.btn.btn-small.btn-secondary', { type: 'button', hidden: true }, t('designer.diff.open'));
  const heading = h('h2.flow-name');
  const version = h('span.chip');
  const graphEl = h('div.flow-graph', { role: 'group', 'aria-label': t('designer.graph') });
  const panelEl = h('aside.flow-panel', { 'aria-label': t('designer.panel') });
  const jsonId = 'flow-json';
  const json = h(`textarea#${jsonId}.input.flow-json-text`, { rows: 24, spellcheck: false, autocapitalize: 'none', autocomplete: 'off' });
  const jsonError = h('p.field-error', { role: 'alert', hidden: true });
  const body = h('div.flow-body', loading());
  const cleanupShell = shell(el, 'flows',
    h('div.flow-head',
      h('a.btn.btn-small.btn-secondary', { href: '#/admin/flows' }, t('designer.all_templates')),
      heading, version,
      isPhone ? null : h('div.button-row', compareBtn, simulateBtn, undoBtn, redoBtn, publishBtn)),
    isPhone ? h('p.notice-warn', t('designer.phone_read_only')) : h('div', status, problemsBox),
    body);
  const main = document.getElementById('main');
  if (main) main.classList.add('console-wide');

  let draft = null;
  let saved = '';
  let current = null; // the template as published, or null for a new one
  let selected = null;
  let problems = {};
  const undo = [];
  const redo = [];
  let lastField = null;
  let lastAt = 0;
  let checkTimer = null;
  let checkSeq = 0;
  let jsonTimer = null;
  let names = null;
  let calendars = [];
  let panelFor = undefined;
  let simulating = false;
  let simulated = null; // the last dry run's answer drawn on the graph: {steps: Map, people: Map}

  const dirty = () => draft && JSON.stringify(draft) !== saved;

  // ---- names of departments, groups and people for the cards and the pickers
  async function loadNames(tpl) {
    const [departments, groups, cals] = await Promise.all([allOf('/departments'), allOf('/groups'), allOf('/calendars').catch(() => [])]);
    calendars = cals;
    const people = new Map();
    const ids = new Set((tpl.steps || []).flatMap((s) => (s.assignees && s.assignees.users) || []));
    await Promise.all([...ids].slice(0, 50).map((id) => session.get(`/users/${id}`).then((u) => people.set(id, u)).catch(() => null)));
    const byId = (list) => new Map(list.map((x) => [x.id, x]));
    const d = byId(departments);
    const g = byId(groups);
    names = {
      departments, groups,
      department: (id) => (d.get(id) || {}).name || `#${id}`,
      group: (id) => (g.get(id) || {}).name || `#${id}`,
      user: (id) => (people.get(id) || {}).name || `#${id}`,
      remember: (p) => people.set(p.id, p),
    };
  }

  async function load() {
    try {
      if (query.get('new')) {
        current = null;
        draft = {
          key, name: query.get('name') || key, description: '', priority: 'P3', classification: {}, owner_department_id: null, form: [],
          steps: [{ key: 'step_1', title: t('designer.first_step'), after: [], mode: 'pool', assignees: { roles: [{ role: 'staff', department: null }] }, outcomes: ['done'] }],
        };
        saved = '';
      } else {
        current = await session.get(`/templates/${encodeURIComponent(key)}`);
        draft = bodyOf(current);
        saved = JSON.stringify(draft);
      }
      await loadNames(draft);
      replace(body, isPhone ? graphEl : h('div.flow-grid',
        graphEl, panelEl,
        h('section.flow-json', { 'aria-labelledby': 'flow-json-title' },
          h('h2#flow-json-title.section-title', h('label', { for: jsonId }, t('designer.json'))),
          h('p.hint', t('designer.json_hint')), json, jsonError)));
      refresh({ panel: true, text: true });
      if (!isPhone) check();
    } catch (err) {
      replace(body, errorState(errorText(err), load));
    }
  }

  // ---- drawing
  const stepProblems = (i) => Object.entries(problems).filter(([p]) => p === `steps.${i}` || p.startsWith(`steps.${i}.`))
    .map(([p, m]) => `${p.slice(`steps.${i}.`.length) || p}: ${[].concat(m).join(' ')}`);

  function refresh({ panel = false, text = false } = {}) {
    heading.textContent = draft.name || key;
    version.textContent = current ? t('designer.version', { n: current.version }) : t('designer.unpublished');
    undoBtn.disabled = !undo.length;
    redoBtn.disabled = !redo.length;
    compareBtn.hidden = !current || current.version < 2;
    if (selected && !draft.steps.some((s) => s.key === selected)) selected = null;
    // Redrawing replaces the cards: a card that had the keyboard focus keeps it.
    const focused = graphEl.contains(document.activeElement) ? document.activeElement.dataset.step : null;
    drawGraph(graphEl, { steps: draft.steps, selected, problems: stepProblems, names, readOnly: isPhone, onSelect: select, simulated,
      onConnect: (from, to) => actions.connect(from, to) });
    if (focused) {
      const again = graphEl.querySelector(`[data-step="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    }
    if (isPhone) return;
    if (simulating) {
      if (panelFor !== 'simulate') {
        panelFor = 'simulate';
        replace(panelEl, simulatePanel({ templateKey: key, draft: () => JSON.parse(JSON.stringify(draft)), names,
          show: (result) => { simulated = result; refresh(); }, close: () => simulate(false) }));
      }
    }
    const index = selected ? draft.steps.findIndex((s) => s.key === selected) : null;
    if (!simulating && (panel || panelFor !== index)) {
      panelFor = index;
      const live = () => draft;
      replace(panelEl, index === null ? templatePanel({ draft, names, edit, live }) : stepPanel({ draft, index, names, calendars, edit, actions, live }));
    }
    if (!simulating) showProblems(panelEl, problems, index);
    if (text && document.activeElement !== json) {
      json.value = JSON.stringify(draft, null, 2);
      jsonError.hidden = true;
    }
    const general = Object.entries(problems).filter(([p]) => !/^steps\.\d+(\.|$)/.test(p));
    replace(problemsBox, general.map(([p, m]) => h('li', `${p}: ${[].concat(m).join(' ')}`)));
    problemsBox.hidden = !general.length;
  }

  function simulate(on) {
    simulating = on;
    simulated = null;
    simulateBtn.setAttribute('aria-pressed', String(on));
    panelFor = undefined;
    if (on) selected = null;
    refresh({ panel: true });
    if (on) panelEl.querySelector('input, select, button')?.focus();
  }

  function select(stepKey) {
    if (simulating) simulate(false);
    selected = selected === stepKey ? null : stepKey;
    refresh({ panel: true });
    const card = graphEl.querySelector(`[data-step="${CSS.escape(stepKey)}"]`);
    if (card) card.focus();
  }

  // ---- changes, history
  /** Change the draft; typing in one field within a second is one step of the history. */
  function edit(mutate, field = null) {
    const before = JSON.stringify(draft);
    const next = JSON.parse(before);
    mutate(next);
    if (JSON.stringify(next) === before) return;
    const now = Date.now();
    if (!(field && field === lastField && now - lastAt < 1000)) {
      undo.push(before);
      if (undo.length > 200) undo.shift();
    }
    lastField = field;
    lastAt = now;
    redo.length = 0;
    draft = next;
    simulated = null; // a result of another draft: run the simulation again
    refresh({ panel: !field, text: true });
    schedule();
  }

  function travel(from, to) {
    if (!from.length) return;
    to.push(JSON.stringify(draft));
    draft = JSON.parse(from.pop());
    lastField = null;
    refresh({ panel: true, text: true });
    schedule();
  }

  const uniqueKey = (base) => {
    const taken = new Set(draft.steps.map((s) => s.key));
    for (let n = draft.steps.length + 1; ; n += 1) if (!taken.has(`${base}_${n}`)) return `${base}_${n}`;
  };
  const newStep = (from, after) => ({
    key: uniqueKey('step'), title: t('designer.new_step'), after, mode: 'pool',
    assignees: JSON.parse(JSON.stringify(from.assignees || { roles: [{ role: 'staff', department: null }] })), outcomes: ['done'],
  });
  const titleOf = (k) => (draft.steps.find((s) => s.key === k) || {}).title || k;
  const mentions = (when, stepKey) => JSON.stringify(when || null).includes(`"${stepKey}"`) || JSON.stringify(when || null).includes(`"${stepKey}.`);

  const actions = {
    /** A step right after this one: the steps that followed it follow the new one. */
    addAfter(index) {
      const base = draft.steps[index];
      const made = newStep(base, [base.key]);
      edit((d) => {
        d.steps.forEach((s) => { if ((s.after || []).includes(base.key)) s.after = s.after.map((k) => (k === base.key ? made.key : k)); });
        d.steps.splice(index + 1, 0, made);
      });
      select(made.key);
    },
    /** A step beside this one (in parallel): same predecessors, and whatever waited for this one waits for both. */
    addBeside(index) {
      const base = draft.steps[index];
      const made = newStep(base, [...(base.after || [])]);
      edit((d) => {
        d.steps.forEach((s) => { if ((s.after || []).includes(base.key)) s.after = [...s.after, made.key]; });
        d.steps.splice(index + 1, 0, made);
      });
      select(made.key);
    },
    async remove(index) {
      const gone = draft.steps[index];
      const following = draft.steps.filter((s) => (s.after || []).includes(gone.key)).map((s) => s.title || s.key);
      const conditioned = draft.steps.filter((s) => s.key !== gone.key && mentions(s.when, gone.key)).map((s) => s.title || s.key);
      const lines = [
        following.length ? t('designer.delete_following', { steps: following.join('、') }) : null,
        conditioned.length ? t('designer.delete_conditions', { steps: conditioned.join('、') }) : null,
      ].filter(Boolean);
      const ok = await confirmDialog(t('designer.delete_title', { title: gone.title || gone.key }), lines.join(' ') || t('designer.delete_nothing'),
        { confirmLabel: t('designer.delete_step'), danger: true });
      if (!ok) return;
      selected = null;
      edit((d) => {
        d.steps.splice(index, 1);
        d.steps.forEach((s) => {
          if ((s.after || []).includes(gone.key)) s.after = [...new Set([...s.after.filter((k) => k !== gone.key), ...(gone.after || [])])];
        });
      });
    },
    /** Step `to` comes after `from` too (a join, or a new edge drawn on the graph); refused when it would make a cycle. */
    connect(from, to) {
      if (from === to || laterSteps(draft.steps, to).has(from)) {
        toast(t('designer.links.cycle', { from: titleOf(from), to: titleOf(to) }), 'error', 6000);
        refresh({ panel: true });
        return;
      }
      const target = draft.steps.find((s) => s.key === to);
      if (!target || (target.after || []).includes(from)) return;
      edit((d) => { const s = d.steps.find((x) => x.key === to); s.after = [...(s.after || []), from]; });
      status.textContent = t('designer.links.connected', { from: titleOf(from), to: titleOf(to) });
    },
    /** Step `to` no longer waits for `from` (with no predecessor left it starts with the work order). */
    disconnect(from, to) {
      edit((d) => { const s = d.steps.find((x) => x.key === to); s.after = (s.after || []).filter((k) => k !== from); });
      status.textContent = t('designer.links.disconnected', { from: titleOf(from), to: titleOf(to) });
    },
    /** Step `index` takes the place of step `other` in the template's order (its branch moves left or right). */
    move(index, other) {
      const moved = draft.steps[index].key;
      edit((d) => { const [s] = d.steps.splice(index, 1); d.steps.splice(other, 0, s); });
      const card = graphEl.querySelector(`[data-step="${CSS.escape(moved)}"]`);
      if (card) card.focus();
    },
    /** A new key for a step, carried into the steps after it and the conditions that name it. */
    rename(d, index, next) {
      const old = d.steps[index].key;
      if (!next || next === old) return;
      selected = next;
      d.steps[index].key = next;
      const swap = (node) => {
        if (Array.isArray(node)) return node.map(swap);
        if (!node || typeof node !== 'object') return node;
        const out = {};
        for (const [k, v] of Object.entries(node)) {
          if (k === 'step' && v === old) out[k] = next;
          else if (k === 'field' && typeof v === 'string' && v.startsWith(`${old}.`)) out[k] = `${next}${v.slice(old.length)}`;
          else out[k] = swap(v);
        }
        return out;
      };
      d.steps.forEach((s) => {
        if (s.after) s.after = s.after.map((k) => (k === old ? next : k));
        if (s.when) s.when = swap(s.when);
      });
    },
  };

  // ---- the JSON, for experts
  json.addEventListener('input', () => {
    clearTimeout(jsonTimer);
    jsonTimer = setTimeout(() => {
      let parsed;
      try {
        parsed = JSON.parse(json.value);
        if (!parsed || typeof parsed !== 'object' || !Array.isArray(parsed.steps)) throw new Error(t('designer.json_needs_steps'));
      } catch (err) {
        jsonError.textContent = t('designer.json_invalid', { message: err.message });
        jsonError.hidden = false;
        return;
      }
      jsonError.hidden = true;
      edit((d) => {
        Object.keys(d).forEach((k) => delete d[k]);
        Object.assign(d, parsed);
      }, 'json');
      refresh({ panel: true });
    }, 400);
  });

  // ---- the server's check, as the admin types
  function schedule() {
    clearTimeout(checkTimer);
    status.textContent = t('designer.checking');
    checkTimer = setTimeout(check, CHECK_DELAY);
  }

  async function check() {
    const seq = ++checkSeq;
    const sent = JSON.stringify(draft);
    try {
      await session.post('/templates/validate', JSON.parse(sent));
      if (seq !== checkSeq) return;
      problems = {};
      status.textContent = t('designer.valid');
    } catch (err) {
      if (seq !== checkSeq) return;
      if (err.status === 422) {
        problems = flatten(err.details || {});
        status.textContent = t('designer.problems', { n: Object.keys(problems).length });
      } else {
        status.textContent = t('designer.check_failed', { message: errorText(err) });
        return;
      }
    }
    refresh();
  }

  // ---- publishing
  publishBtn.addEventListener('click', async () => {
    publishBtn.disabled = true;
    try {
      if (current) {
        // Another admin may have published since this draft was loaded: say so rather than overwrite it unseen.
        const now = await session.get(`/templates/${encodeURIComponent(key)}`);
        const theirs = JSON.stringify(bodyOf(now)) !== saved;
        if (theirs && !(await confirmDialog(t('designer.changed_title'), t('designer.changed_body', { n: now.version }),
          { confirmLabel: t('designer.publish_anyway'), danger: true }))) return;
      }
      const before = current ? current.version : 0;
      const made = current ? await put(`/templates/${encodeURIComponent(key)}`, draft) : await session.post('/templates', draft);
      current = made;
      draft = bodyOf(made);
      saved = JSON.stringify(draft);
      problems = {};
      const message = !before ? t('designer.created', { n: made.version })
        : made.version > before ? t('designer.published_new', { n: made.version, old: before, count: made.left_running || 0 })
          : t('designer.published_in_place', { n: made.version });
      status.textContent = message;
      toast(message, 'ok', 6000);
      // A new template now exists: its address loses ?new (no render, so the message above stays in sight).
      if (query.get('new')) history.replaceState(null, '', `#/admin/flows/${encodeURIComponent(key)}`);
      refresh({ panel: true, text: true });
    } catch (err) {
      if (err.status === 422) {
        problems = flatten(err.details || {});
        status.textContent = t('designer.problems', { n: Object.keys(problems).length });
        refresh();
      }
      toast(errorText(err), 'error', 8000);
    } finally {
      publishBtn.disabled = false;
    }
  });

  simulateBtn.addEventListener('click', () => simulate(!simulating));
  compareBtn.addEventListener('click', () => compareVersions({ key, current: current.version }));
  undoBtn.addEventListener('click', () => travel(undo, redo));
  redoBtn.addEventListener('click', () => travel(redo, undo));
  const onKey = (e) => {
    if (!(e.ctrlKey || e.metaKey) || e.altKey || e.target === json || document.querySelector('dialog[open]')) return;
    const k = e.key.toLowerCase();
    if (k === 'z' && !e.shiftKey) travel(undo, redo);
    else if (k === 'y' || (k === 'z' && e.shiftKey)) travel(redo, undo);
    else return;
    e.preventDefault();
  };
  const onUnload = (e) => {
    if (!dirty()) return;
    e.preventDefault();
    e.returnValue = '';
  };
  if (!isPhone) {
    document.addEventListener('keydown', onKey);
    window.addEventListener('beforeunload', onUnload);
    setLeaveGuard(() => (dirty() ? confirmDialog(t('designer.leave_title'), t('designer.leave_body'),
      { confirmLabel: t('designer.leave'), danger: true }) : true));
  }

  load();
  return () => {
    clearTimeout(checkTimer);
    clearTimeout(jsonTimer);
    checkSeq += 1;
    document.removeEventListener('keydown', onKey);
    window.removeEventListener('beforeunload', onUnload);
    setLeaveGuard(null);
    if (main) main.classList.remove('console-wide');
    cleanupShell();
  };
}

/** 422 details as {path: [messages]}: the server sends flat paths; nested objects are flattened the same way. */
function flatten(details, prefix = '', out = {}) {
  for (const [k, v] of Object.entries(details)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) out[path] = v;
    else if (v && typeof v === 'object') flatten(v, path, out);
    else out[path] = [String(v)];
  }
  return out;
}
