// The flow designer's side panel: the selected step's settings (or the template's, when no step is selected).
// Every control writes straight into the draft through `edit(mutate, field)`; the server's messages for a path
// (`steps.2.sla`) are shown under the control they concern by `showProblems`.
import { h, uid } from '../ui/dom.js';
import { t, tMaybe, fmtDurationLong } from '../i18n.js';
import * as session from '../session.js';
import { personField } from '../ui/people.js';
import { conditionEditor } from './designer-when.js';
import { formBuilder, wordsEditor } from './designer-form.js';

const MODES = ['pool', 'joint', 'each'];
const DISPATCHES = ['claim', 'round_robin', 'least_loaded'];
const ROLES = ['staff', 'lead', 'quality', 'admin'];
const PRIORITIES = ['P1', 'P2', 'P3', 'P4'];

const orNull = (v) => (v === '' ? null : v);
const numOrNull = (v) => (v === '' ? null : Number(v));

/** One labelled control with room for the server's message; `name` is the path segment its messages come under. */
function row(name, label, control, hint) {
  const id = control.id || uid('d');
  control.id = id;
  const problem = h('p.field-error', { id: `${id}-err`, hidden: true, role: 'alert' });
  control.setAttribute('aria-describedby', `${id}-err`);
  return h('div.field', { dataset: { field: name } }, h('label', { for: id }, label), control, hint ? h('p.hint', hint) : null, problem);
}

function input(value, attrs = {}) {
  const el = h('input.input', { type: 'text', autocomplete: 'off', spellcheck: false, ...attrs });
  el.value = value === null || value === undefined ? '' : String(value);
  return el;
}

function select(options, value) {
  const el = h('select.input', options.map(([v, text]) => h('option', { value: v }, text)));
  el.value = value === null || value === undefined ? '' : String(value);
  return el;
}

/** The template's own settings: name, description, priority, owner department. */
export function templatePanel({ draft, names, edit, live = () => draft }) {
  const name = input(draft.name, { maxlength: 200 });
  name.addEventListener('input', () => edit((d) => { d.name = name.value; }, 'name'));
  const description = h('textarea.input', { rows: 3, maxlength: 2000 });
  description.value = draft.description || '';
  description.addEventListener('input', () => edit((d) => { d.description = description.value; }, 'description'));
  const priority = select(PRIORITIES.map((p) => [p, p]), draft.priority || 'P3');
  priority.addEventListener('change', () => edit((d) => { d.priority = priority.value; }));
  const owner = select([['', t('admin.none')], ...names.departments.map((d) => [d.id, d.name])], draft.owner_department_id);
  owner.addEventListener('change', () => edit((d) => { d.owner_department_id = owner.value ? Number(owner.value) : null; }));
  return h('div.flow-panel-body',
    h('h2.section-title', t('designer.template_settings')),
    h('p.hint', t('designer.select_hint')),
    row('name', t('designer.field.name'), name),
    row('description', t('designer.field.description'), description),
    row('priority', t('designer.field.priority'), priority),
    row('owner_department_id', t('designer.field.owner'), owner),
    formBuilder({ fields: draft.form || [], kind: 'template',
      edit: (mutate, field) => edit((d) => { d.form = d.form || []; mutate(d.form); }, field ? `tform-${field}` : null),
      preview: () => ({ title: live().name, fields: live().form || [] }) }));
}

/** The settings of step `index` of the draft; `actions` are the add/delete buttons' handlers. */
export function stepPanel({ draft, index, names, calendars, edit, actions, live = () => draft }) {
  const step = draft.steps[index];
  const at = (mutate) => (d) => mutate(d.steps[index], d);

  const key = input(step.key, { maxlength: 64, autocapitalize: 'none' });
  key.addEventListener('change', () => edit((d) => actions.rename(d, index, key.value.trim())));
  const title = input(step.title, { maxlength: 200 });
  title.addEventListener('input', () => edit(at((s) => { s.title = title.value; }), `title-${index}`));
  const mode = select(MODES.map((m) => [m, `${m} · ${tMaybe(`mode.${m}`, m)}`]), step.mode || 'pool');
  mode.addEventListener('change', () => edit(at((s) => { s.mode = mode.value; })));

  const sla = input(step.sla, { maxlength: 40, placeholder: 'PT4H', inputmode: 'text' });
  sla.addEventListener('input', () => edit(at((s) => { s.sla = orNull(sla.value.trim()); }), `sla-${index}`));
  const calendar = select([['', t('designer.calendar_default')], ['24x7', t('designer.calendar_24x7')], ['business', t('designer.calendar_business')],
    ...calendars.map((c) => [c.id, c.name])], step.sla_calendar);
  calendar.addEventListener('change', () => edit(at((s) => {
    s.sla_calendar = calendar.value === '' ? null : (/^\d+$/.test(calendar.value) ? Number(calendar.value) : calendar.value);
  })));
  const remind = input(step.remind_before, { maxlength: 40, placeholder: 'PT30M' });
  remind.addEventListener('input', () => edit(at((s) => { s.remind_before = orNull(remind.value.trim()); }), `remind-${index}`));

  const esc = step.escalation || {};
  const interval = input(esc.interval, { maxlength: 40, placeholder: 'PT1H' });
  const maxLevel = input(esc.max_level, { type: 'number', min: 1, max: 10 });
  const reassign = input(esc.reassign_at_level, { type: 'number', min: 1, max: 10 });
  const setEscalation = () => edit(at((s) => {
    const next = { interval: orNull(interval.value.trim()), max_level: numOrNull(maxLevel.value), reassign_at_level: numOrNull(reassign.value) };
    s.escalation = next.interval || next.max_level !== null || next.reassign_at_level !== null
      ? { interval: next.interval, max_level: next.max_level === null ? 3 : next.max_level, reassign_at_level: next.reassign_at_level } : null;
  }), `esc-${index}`);
  [interval, maxLevel, reassign].forEach((el) => el.addEventListener('input', setEscalation));
  // The timeline below the fields follows them as they are typed (typing does not rebuild the panel).
  [sla, interval, maxLevel, reassign].forEach((el) => el.addEventListener('input', () => {
    const old = el.closest('.flow-panel-body')?.querySelector('.flow-esc-line');
    if (old) old.replaceWith(escalationTimeline(live().steps[index] || step));
  }));

  const outcomes = input((step.outcomes || ['done']).join(', '), { maxlength: 1400 });
  outcomes.addEventListener('input', () => edit(at((s) => {
    s.outcomes = outcomes.value.split(/[,，]/).map((x) => x.trim()).filter(Boolean);
  }), `outcomes-${index}`));
  const allowReturn = h('input', { type: 'checkbox', id: uid('ret') });
  allowReturn.checked = !!step.allow_return;
  allowReturn.addEventListener('change', () => edit(at((s) => { s.allow_return = allowReturn.checked; })));
  const dispatch = select([['', t('designer.dispatch_default')], ...DISPATCHES.map((x) => [x, tMaybe(`designer.dispatch.${x}`, x)])], step.dispatch);
  dispatch.addEventListener('change', () => edit(at((s) => { s.dispatch = orNull(dispatch.value); })));
  const capacity = input(step.capacity, { type: 'number', min: 1, max: 10000 });
  capacity.addEventListener('input', () => edit(at((s) => { s.capacity = numOrNull(capacity.value); }), `cap-${index}`));
  const forEach = input(step.for_each, { maxlength: 64 });
  forEach.addEventListener('input', () => edit(at((s) => { s.for_each = orNull(forEach.value.trim()); }), `fe-${index}`));

  const dependents = draft.steps.filter((s) => (s.after || []).includes(step.key)).map((s) => s.title || s.key);
  return h('div.flow-panel-body',
    h('h2.section-title', t('designer.step_settings', { title: step.title || step.key })),
    h('div.flow-step-problems.field-error', { role: 'alert', hidden: true }),
    h('div.button-row',
      h('button.btn.btn-small.btn-secondary', { type: 'button', onclick: () => actions.addAfter(index) }, t('designer.add_after')),
      h('button.btn.btn-small.btn-secondary', { type: 'button', onclick: () => actions.addBeside(index) }, t('designer.add_beside')),
      h('button.btn.btn-small.btn-danger-text', { type: 'button', disabled: draft.steps.length < 2, onclick: () => actions.remove(index) },
        t('designer.delete_step'))),
    dependents.length ? h('p.hint', t('designer.followed_by', { steps: dependents.join('、') })) : null,
    row('title', t('designer.field.title'), title),
    row('key', t('designer.field.key'), key, t('designer.key_hint')),
    linksField({ draft, index, actions }),
    row('mode', t('designer.field.mode'), mode),
    assigneesField({ spec: step.assignees, names, edit: (mutate) => edit(at((s) => {
      // Nobody named at all is no spec (a for_each step's handlers come from its instances).
      const next = mutate({ ...(s.assignees || {}) });
      s.assignees = specIsEmpty(next) ? null : next;
    })) }),
    h('div.flow-pair',
      row('sla', t('designer.field.sla'), sla, t('designer.duration_hint')),
      row('sla_calendar', t('designer.field.calendar'), calendar)),
    row('remind_before', t('designer.field.remind'), remind),
    h('fieldset.field.flow-fieldset', { dataset: { field: 'escalation' } }, h('legend', t('designer.field.escalation')),
      h('div.flow-trio',
        row('escalation.interval', t('designer.field.interval'), interval),
        row('escalation.max_level', t('designer.field.max_level'), maxLevel),
        row('escalation.reassign_at_level', t('designer.field.reassign'), reassign)),
      escalationTimeline(step),
      h('p.field-error', { hidden: true, role: 'alert', dataset: { own: 'escalation' } })),
    row('outcomes', t('designer.field.outcomes'), outcomes, t('designer.outcomes_hint')),
    conditionEditor({ draft, index, edit: (mutate, field) => edit(at(mutate), field ? `${field}-${index}` : null) }),
    h('div.field.field-check', { dataset: { field: 'allow_return' } },
      h('label.check', { for: allowReturn.id }, allowReturn, h('span', t('designer.field.allow_return'))),
      h('p.field-error', { hidden: true, role: 'alert' })),
    h('div.flow-pair',
      row('dispatch', t('designer.field.dispatch'), dispatch),
      row('capacity', t('designer.field.capacity'), capacity)),
    row('for_each', t('designer.field.for_each'), forEach, t('designer.for_each_hint')),
    wordsEditor({ step, edit: (mutate, field) => edit(at(mutate), field ? `${field}-${index}` : null) }),
    formBuilder({ fields: step.form || [], kind: 'step',
      edit: (mutate, field) => edit(at((s) => { s.form = s.form || []; mutate(s.form); }), field ? `form-${index}-${field}` : null),
      preview: () => {
        const now = live().steps[index] || step;
        return { title: now.title, titles: now.titles, outcomes: now.outcomes || ['done'], outcomeLabels: now.outcome_labels, fields: now.form || [] };
      } }));
}

/** Who gets the step: departments, groups, people and roles, each picked by name and shown as a removable chip. */
function assigneesField({ spec, names, edit }) {
  const current = spec || {};
  const chip = (text, remove) => h('li.chip.flow-chip', h('span', text),
    h('button.flow-chip-remove', { type: 'button', 'aria-label': t('designer.remove_named', { name: text }), onclick: remove }, '×'));
  const without = (kind, value) => () => edit((s) => ({ ...s, [kind]: (s[kind] || []).filter((x) => JSON.stringify(x) !== JSON.stringify(value)) }));
  const chips = [
    ...(current.departments || []).map((id) => chip(`${t('designer.kind.department')}：${names.department(id)}`, without('departments', id))),
    ...(current.groups || []).map((id) => chip(`${t('designer.kind.group')}：${names.group(id)}`, without('groups', id))),
    ...(current.users || []).map((id) => chip(`${t('designer.kind.person')}：${names.user(id)}`, without('users', id))),
    ...(current.roles || []).map((r) => chip(`${t('designer.kind.role')}：${tMaybe(`role.${r.role}`, r.role)}${r.department ? ` · ${names.department(r.department)}` : ''}`,
      without('roles', r))),
    current.from_data ? chip(`data.${current.from_data}`, () => edit((s) => ({ ...s, from_data: null }))) : null,
  ].filter(Boolean);
  const add = (kind, value) => edit((s) => ({ ...s, [kind]: [...(s[kind] || []).filter((x) => JSON.stringify(x) !== JSON.stringify(value)), value] }));

  const dept = select([['', t('designer.pick_department')], ...names.departments.map((d) => [d.id, d.name])], '');
  dept.setAttribute('aria-label', t('designer.pick_department'));
  dept.addEventListener('change', () => { if (dept.value) add('departments', Number(dept.value)); });
  const group = select([['', t('designer.pick_group')], ...names.groups.map((g) => [g.id, g.name])], '');
  group.setAttribute('aria-label', t('designer.pick_group'));
  group.addEventListener('change', () => { if (group.value) add('groups', Number(group.value)); });
  const role = select([['', t('designer.pick_role')], ...ROLES.map((r) => [r, tMaybe(`role.${r}`, r)])], '');
  role.setAttribute('aria-label', t('designer.pick_role'));
  const roleDept = select([['', t('designer.any_department')], ...names.departments.map((d) => [d.id, d.name])], '');
  roleDept.setAttribute('aria-label', t('designer.role_department'));
  const addRole = h('button.btn.btn-small.btn-secondary', { type: 'button', onclick: () => {
    if (role.value) add('roles', { role: role.value, department: roleDept.value ? Number(roleDept.value) : null });
  } }, t('designer.add_role'));
  const person = personField(t('designer.pick_person'), { hint: t('designer.pick_person_hint') });
  const addPerson = h('button.btn.btn-small.btn-secondary', { type: 'button', onclick: async () => {
    const login = person.value();
    if (!login) return;
    try {
      const found = (await session.get(`/people?q=${encodeURIComponent(login)}&limit=20`)).items.find((p) => p.login === login);
      if (!found) throw new Error('nobody');
      names.remember(found);
      add('users', found.id);
    } catch {
      person.input.setCustomValidity(t('admin.unknown_person'));
      person.input.reportValidity();
    }
  } }, t('designer.add_person'));
  person.input.addEventListener('input', () => person.input.setCustomValidity(''));
  // People named by the work order's data (a list of user ids under this name), e.g. the drivers of an order.
  const fromDataId = uid('fd');
  const fromData = h(`input#${fromDataId}.input`, { type: 'text', maxlength: 64, autocomplete: 'off', spellcheck: false, autocapitalize: 'none',
    placeholder: 'driver_ids', 'aria-describedby': `${fromDataId}-hint` });
  fromData.value = current.from_data || '';
  fromData.addEventListener('change', () => edit((s) => ({ ...s, from_data: fromData.value.trim() || null })));
  return h('fieldset.field.flow-fieldset', { dataset: { field: 'assignees' } },
    h('legend', t('designer.field.assignees')),
    chips.length ? h('ul.flow-chips', chips) : h('p.hint', t('designer.nobody_yet')),
    chips.length ? todayCount(current) : null,
    h('div.flow-pickers', dept, group, h('div.flow-pair', role, roleDept), addRole),
    h('div.flow-person', person.field, addPerson),
    h('div.field', { dataset: { field: 'assignees.from_data' } }, h('label', { for: fromDataId }, t('designer.from_data')), fromData,
      h('p.hint', { id: `${fromDataId}-hint` }, t('designer.from_data_hint')), h('p.field-error', { hidden: true, role: 'alert' })),
    h('p.field-error', { hidden: true, role: 'alert', dataset: { own: 'assignees' } }));
}

// Who a selection is today, asked of the server (POST /assignees/count) once per selection and minute.
const counted = new Map();

/** "Today: 12 people, 9 on duty now", said as the selection changes; the first names in its title. */
function todayCount(spec) {
  const el = h('p.hint.flow-today', { role: 'status', 'aria-live': 'polite' }, t('designer.count.counting'));
  const body = { users: spec.users || [], groups: spec.groups || [], departments: spec.departments || [], roles: spec.roles || [] };
  const key = JSON.stringify(body);
  const cached = counted.get(key);
  const ask = cached && Date.now() - cached.at < 60_000 ? cached.answer
    : session.post('/assignees/count', body).then((answer) => answer);
  if (!cached || cached.answer !== ask) counted.set(key, { at: Date.now(), answer: ask });
  ask.then((n) => {
    el.textContent = n.named ? t('designer.count.today', { n: n.named, on_duty: n.on_duty })
      + (spec.from_data ? ` ${t('designer.count.plus_data')}` : '') : t('designer.count.nobody');
    el.classList.toggle('field-error', !n.named);
    el.title = n.people.map((p) => p.name).join('、');
  }, () => { counted.delete(key); el.textContent = ''; });
  return el;
}

/** Put the server's messages for step `index` (or the template when index is null) under their controls. */
export function showProblems(panel, problems, index) {
  if (!panel) return;
  const prefix = index === null ? '' : `steps.${index}.`;
  const mine = Object.entries(problems).filter(([path]) => (index === null ? !path.startsWith('steps') : path.startsWith(prefix)));
  panel.querySelectorAll('.field-error').forEach((el) => { el.hidden = true; el.textContent = ''; });
  panel.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
  const general = [];
  for (const [path, messages] of mine) {
    const rest = path.slice(prefix.length);
    const text = [].concat(messages).join(' ');
    // The most specific field that holds the path: escalation.interval before escalation, assignees.users → assignees.
    const names = rest.split('.');
    let target = null;
    for (let n = names.length; n > 0 && !target; n -= 1) {
      target = panel.querySelector(`[data-field="${CSS.escape(names.slice(0, n).join('.'))}"]`);
    }
    if (!target) {
      general.push(`${rest || path}: ${text}`);
      continue;
    }
    const slot = target.querySelector(':scope > .field-error') || target.querySelector('.field-error');
    slot.textContent = slot.textContent ? `${slot.textContent} ${text}` : text;
    slot.hidden = false;
    const control = target.querySelector('input, select, textarea');
    if (control) control.setAttribute('aria-invalid', 'true');
  }
  const top = panel.querySelector('.flow-step-problems');
  if (top) {
    top.textContent = general.join(' · ');
    top.hidden = !general.length;
  }
}

/** No one named: no users, groups, departments, roles nor data field. */
export const specIsEmpty = (spec) => !spec || !['users', 'groups', 'departments', 'roles', 'from_data'].some((k) => {
  const v = spec[k];
  return Array.isArray(v) ? v.length : !!v;
});

/** The steps that (directly or not) come after step `key`: it cannot follow any of them. */
export function laterSteps(steps, key) {
  const found = new Set();
  const walk = (k) => steps.forEach((s) => {
    if ((s.after || []).includes(k) && !found.has(s.key)) { found.add(s.key); walk(s.key); }
  });
  walk(key);
  return found;
}

/** The steps with the same predecessors as step `index` (its sibling branches), itself included, in template order. */
export function branchesOf(steps, index) {
  const same = JSON.stringify([...(steps[index].after || [])].sort());
  return steps.map((s, i) => ({ s, i })).filter(({ s }) => JSON.stringify([...(s.after || [])].sort()) === same);
}

/** What the step comes after (removable chips, and a list of the steps it may follow), and its place among its branches. */
function linksField({ draft, index, actions }) {
  const step = draft.steps[index];
  const title = (k) => {
    const s = draft.steps.find((x) => x.key === k);
    return s ? `${s.title || k}` : k;
  };
  const chips = (step.after || []).map((k) => h('li.chip.flow-chip', { dataset: { key: k } }, h('span', title(k)),
    h('button.flow-chip-remove', { type: 'button', 'aria-label': t('designer.links.remove', { step: title(k) }),
      onclick: () => actions.disconnect(k, step.key) }, '×')));
  const later = laterSteps(draft.steps, step.key);
  const candidates = draft.steps.filter((s) => s.key !== step.key && !(step.after || []).includes(s.key) && !later.has(s.key));
  const pickId = uid('link');
  const pick = h(`select#${pickId}.input`, h('option', { value: '' }, t('designer.links.pick')),
    candidates.map((s) => h('option', { value: s.key }, `${s.title || s.key} (${s.key})`)));
  pick.disabled = !candidates.length;
  pick.addEventListener('change', () => { if (pick.value) actions.connect(pick.value, step.key); });
  const branches = branchesOf(draft.steps, index);
  const place = branches.findIndex(({ i }) => i === index);
  const order = branches.length > 1 ? h('div.flow-branch-order',
    h('p.hint', t('designer.links.branch_place', { n: place + 1, of: branches.length })),
    h('div.button-row',
      h('button.btn.btn-small.btn-secondary', { type: 'button', disabled: place === 0, onclick: () => actions.move(index, branches[place - 1].i) },
        t('designer.links.earlier')),
      h('button.btn.btn-small.btn-secondary', { type: 'button', disabled: place === branches.length - 1,
        onclick: () => actions.move(index, branches[place + 1].i) }, t('designer.links.later')))) : null;
  return h('fieldset.field.flow-fieldset', { dataset: { field: 'after' } },
    h('legend', t('designer.links.title')),
    chips.length ? h('ul.flow-chips', chips) : h('p.hint', t('designer.card_first')),
    h('div.field', h('label', { for: pickId }, t('designer.links.add')), pick, h('p.hint', t('designer.links.hint'))),
    order,
    h('p.field-error', { hidden: true, role: 'alert', dataset: { own: 'after' } }));
}

const ISO = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i;
/** An ISO 8601 duration in milliseconds, or null when it is not one (yet: the admin may be typing). */
export function durationMs(text) {
  const m = ISO.exec((text || '').trim());
  if (!m || !text || /T$/i.test(text.trim()) || text.trim().toUpperCase() === 'P') return null;
  const [w, d, hr, mi, se] = m.slice(1).map((x) => Number(x || 0));
  const ms = ((((w * 7 + d) * 24 + hr) * 60 + mi) * 60 + se) * 1000;
  return ms > 0 ? ms : null;
}

/** The escalation as a timeline: reminder, due, then each level (whom it reaches, when the task is handed over). */
export function escalationTimeline(step) {
  const sla = durationMs(step.sla);
  const esc = step.escalation || {};
  if (!sla) return h('p.hint.flow-esc-line', t('designer.esc.no_sla'));
  const interval = durationMs(esc.interval) || Math.max(sla, 5 * 60_000);
  const levels = Math.min(Number(esc.max_level) || 3, 10);
  const remind = durationMs(step.remind_before);
  const items = [];
  if (remind && remind < sla) items.push(h('li.flow-esc-remind', h('strong', t('designer.esc.at', { when: fmtDurationLong(sla - remind) })), ' ', t('designer.esc.remind')));
  for (let level = 1; level <= levels; level += 1) {
    const at = sla + (level - 1) * interval;
    const whom = level === 1 ? t('designer.esc.managers') : t('designer.esc.up', { n: level });
    const handed = Number(esc.reassign_at_level) === level;
    items.push(h(`li.flow-esc-level${handed ? '.flow-esc-handed' : ''}`, { dataset: { level } },
      h('strong', t('designer.esc.at', { when: fmtDurationLong(at) })), ' ',
      t('designer.esc.level', { n: level }), level === 1 ? ` (${t('designer.esc.due')})` : '', ': ', whom,
      handed ? ` — ${t('designer.esc.handed')}` : ''));
  }
  return h('div.flow-esc-line', h('p.hint', t('designer.esc.title')), h('ol.flow-esc', items));
}
