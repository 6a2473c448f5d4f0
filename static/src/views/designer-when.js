// A step's condition (`when`, docs/design.md §11) edited as choices: rows of "step → outcome is one of …" and
// "field → operator → value", combined with all or any; the "otherwise" branch; and the condition's JSON beside
// it, both kept in step. Operators offered fit the field's type, as the server checks them (app/flows/conditions.py).
import { h, uid } from '../ui/dom.js';
import { t, tMaybe } from '../i18n.js';

const ORDERED = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'empty'];
export const OPERATORS_BY_TYPE = {
  number: ORDERED, integer: ORDERED, date: ORDERED, datetime: ORDERED,
  text: ['eq', 'ne', 'in', 'contains', 'empty'], textarea: ['eq', 'ne', 'in', 'contains', 'empty'],
  select: ['eq', 'ne', 'in', 'empty'], user: ['eq', 'ne', 'in', 'empty'],
  boolean: ['eq', 'ne', 'empty'],
  multiselect: ['contains', 'empty'], list: ['contains', 'empty'], attachment: ['empty'],
  barcode: ['eq', 'ne', 'in', 'contains', 'empty'],
  photos: ['empty'], signature: ['empty'], location: ['empty'],
};

/** The steps before `key` in the graph (its ancestors), in template order. */
export function earlierSteps(steps, key) {
  const after = new Map(steps.map((s) => [s.key, s.after || []]));
  const seen = new Set();
  const walk = (k) => (after.get(k) || []).forEach((p) => { if (!seen.has(p) && after.has(p)) { seen.add(p); walk(p); } });
  walk(key);
  return steps.filter((s) => seen.has(s.key));
}

/** Fields a condition of step `key` may read: the template's form, and the forms of the steps before it. */
export function readableFields(draft, key) {
  const own = (draft.form || []).map((f) => ({ name: f.name, spec: f, label: f.label || f.name }));
  const earlier = earlierSteps(draft.steps, key).flatMap((s) => (s.form || [])
    .map((f) => ({ name: `${s.key}.${f.name}`, spec: f, label: `${s.title || s.key} · ${f.label || f.name}` })));
  return [...own, ...earlier];
}

const isSimple = (c) => c && typeof c === 'object' && (c.outcome || c.field) && Object.keys(c).length >= 1
  && !('all' in c) && !('any' in c) && !('not' in c);

/** {combine, rows} when `when` can be edited as rows, else null (a `not`, nesting: the JSON edits it). */
export function asRows(when) {
  if (when === null || when === undefined) return { combine: 'all', rows: [] };
  if (typeof when !== 'object' || Array.isArray(when)) return null;
  if (isSimple(when)) return { combine: 'all', rows: [when] };
  const combine = 'all' in when ? 'all' : 'any' in when ? 'any' : null;
  if (!combine || Object.keys(when).length !== 1 || !Array.isArray(when[combine]) || !when[combine].every(isSimple)) return null;
  return { combine, rows: when[combine] };
}

const fromRows = ({ combine, rows }) => (!rows.length ? null : rows.length === 1 ? rows[0] : { [combine]: rows });

function choice(options, value, label) {
  const el = h('select.input', { 'aria-label': label }, options.map(([v, text]) => h('option', { value: v }, text)));
  el.value = value === undefined || value === null ? '' : String(value);
  return el;
}

/** A value typed for a field of type `type` ("12" → 12 for numbers, "true" → true for booleans). */
function typed(type, text) {
  if (['number', 'integer', 'user'].includes(type)) return text.trim() === '' || Number.isNaN(Number(text)) ? text : Number(text);
  if (type === 'boolean') return text === 'true';
  return text;
}

/**
 * The condition editor of step `index`. `edit(mutate, field)` changes the draft (mutate gets the step);
 * rerender is done by the caller (the panel is rebuilt on structural changes).
 */
export function conditionEditor({ draft, index, edit }) {
  const step = draft.steps[index];
  const earlier = earlierSteps(draft.steps, step.key);
  const fields = readableFields(draft, step.key);
  // Every change reads the condition as it stands in the draft (typing does not rebuild the panel, so what was
  // drawn may be older), and the condition's JSON below follows.
  const update = (transform, field = null) => {
    let next = null;
    edit((s) => {
      next = transform(s.when);
      s.when = next;
      if (next !== null && next !== undefined) delete s.default;
    }, field);
    if (document.activeElement !== json) json.value = next ? JSON.stringify(next, null, 1) : '';
  };
  const setWhen = (next, field = null) => update(() => next, field);
  const jsonId = uid('when');
  const json = h(`textarea#${jsonId}.input.flow-when-json`, { rows: 4, spellcheck: false, autocapitalize: 'none' });
  json.value = step.when ? JSON.stringify(step.when, null, 1) : '';
  const jsonError = h('p.field-error', { hidden: true, role: 'alert' });
  json.addEventListener('change', () => {
    const text = json.value.trim();
    let parsed = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch (err) {
      jsonError.textContent = t('designer.json_invalid', { message: err.message });
      jsonError.hidden = false;
      return;
    }
    jsonError.hidden = true;
    setWhen(parsed);
  });

  const siblings = draft.steps.filter((s) => s.key !== step.key
    && JSON.stringify([...(s.after || [])].sort()) === JSON.stringify([...(step.after || [])].sort()));
  const otherwise = h('input', { type: 'checkbox', id: uid('dflt') });
  otherwise.checked = !!step.default;
  otherwise.disabled = !siblings.length && !step.default;
  otherwise.addEventListener('change', () => edit((s) => {
    if (otherwise.checked) { s.default = true; s.when = null; } else delete s.default;
  }));
  const defaultRow = h('div.field.field-check', { dataset: { field: 'default' } },
    h('label.check', { for: otherwise.id }, otherwise, h('span', t('designer.when.otherwise'))),
    h('p.hint', siblings.length ? t('designer.when.otherwise_hint', { steps: siblings.map((s) => s.title || s.key).join('、') })
      : t('designer.when.no_siblings')),
    h('p.field-error', { hidden: true, role: 'alert' }));

  const shape = asRows(step.when);
  let body;
  if (step.default) {
    body = h('p.hint', t('designer.when.is_otherwise'));
  } else if (!shape) {
    body = h('p.notice-warn', t('designer.when.complex'));
  } else {
    const { combine, rows } = shape;
    /** Rewrite the rows (and the combination) of the condition as it now stands. */
    const write = (transform, nextCombine = null, field = null) => update((when) => {
      const now = asRows(when) || { combine, rows: [] };
      return fromRows({ combine: nextCombine || now.combine, rows: transform(now.rows) });
    }, field);
    const combineSel = choice([['all', t('designer.when.all')], ['any', t('designer.when.any')]], combine, t('designer.when.combine'));
    combineSel.addEventListener('change', () => write((list) => list, combineSel.value));
    const list = rows.map((row, i) => conditionRow({
      row, earlier, fields, path: rows.length > 1 ? `when.${combine}.${i}` : 'when',
      change: (make, field) => write((list) => list.map((r, j) => (j === i ? make(r) : r)), null, field),
      remove: () => write((list) => list.filter((_, j) => j !== i)),
    }));
    const addOutcome = h('button.btn.btn-small.btn-secondary', { type: 'button', disabled: !earlier.length, onclick: () => {
      const first = earlier[earlier.length - 1];
      write((list) => [...list, { outcome: { step: first.key, in: [(first.outcomes || ['done'])[0]] } }]);
    } }, t('designer.when.add_outcome'));
    const addField = h('button.btn.btn-small.btn-secondary', { type: 'button', disabled: !fields.length, onclick: () => {
      const f = fields[0];
      const ops = OPERATORS_BY_TYPE[f.spec.type] || ['empty'];
      const op = ops.includes('eq') ? 'eq' : ops[0];
      const value = op === 'empty' ? true : f.spec.type === 'boolean' ? true : f.spec.options ? f.spec.options[0] : '';
      write((list) => [...list, { field: f.name, op, value }]);
    } }, t('designer.when.add_field'));
    body = h('div.flow-when',
      rows.length ? null : h('p.hint', t('designer.when.always')),
      rows.length > 1 ? h('div.flow-when-combine', h('span', t('designer.when.combine')), combineSel) : null,
      h('ol.flow-when-rows', list),
      h('div.button-row', addOutcome, addField));
  }
  const jsonDetails = h('details.flow-when-details', h('summary', t('designer.when.json')),
    h('label.sr-only', { for: jsonId }, t('designer.when.json')), json, jsonError);
  if (!shape && step.when) jsonDetails.open = true;
  return h('fieldset.field.flow-fieldset', { dataset: { field: 'when' } },
    h('legend', t('designer.when.title')),
    step.after && step.after.length ? null : h('p.hint', t('designer.when.root')),
    body, defaultRow, jsonDetails,
    h('p.field-error', { hidden: true, role: 'alert', dataset: { own: 'when' } }));
}

function conditionRow({ row, earlier, fields, path, change, remove }) {
  const removeBtn = h('button.btn.btn-small.btn-danger-text', { type: 'button', onclick: remove, 'aria-label': t('designer.when.remove') }, '×');
  const problem = h('p.field-error', { hidden: true, role: 'alert' });
  if (row.outcome) {
    const o = row.outcome;
    const stepSel = choice([...earlier.map((s) => [s.key, s.title || s.key]),
      ...(earlier.some((s) => s.key === o.step) ? [] : [[o.step || '', o.step || '—']])], o.step, t('designer.when.step'));
    stepSel.addEventListener('change', () => {
      const s = earlier.find((x) => x.key === stepSel.value);
      change(() => ({ outcome: { step: stepSel.value, in: [((s && s.outcomes) || ['done'])[0]] } }));
    });
    const source = earlier.find((s) => s.key === o.step);
    const declared = (source && source.outcomes) || ['done'];
    const boxes = [...new Set([...declared, ...(o.in || [])])].map((name) => {
      const box = h('input', { type: 'checkbox', value: name, id: uid('oc') });
      box.checked = (o.in || []).includes(name);
      box.addEventListener('change', () => {
        change((cur) => ({ outcome: { ...cur.outcome,
          in: declared.filter((d) => (d === name ? box.checked : (cur.outcome.in || []).includes(d))) } }));
      });
      const said = tMaybe(`outcome.${name}`, name);
      return h('label.check.flow-when-box', { for: box.id }, box, h('span', said === name ? name : `${said} (${name})`));
    });
    // A step with several instances (one per warehouse, one per person): any instance, or every one of them.
    const many = source && (source.for_each || source.mode === 'each');
    let quantifier = null;
    if (many || o.quantifier) {
      quantifier = choice([['any', t('designer.when.any_instance')], ['all', t('designer.when.all_instances')]], o.quantifier || 'any',
        t('designer.when.quantifier'));
      quantifier.addEventListener('change', () => change((cur) => {
        const next = { ...cur.outcome };
        if (quantifier.value === 'all') next.quantifier = 'all'; else delete next.quantifier;
        return { outcome: next };
      }));
    }
    return h('li.flow-when-row', { dataset: { field: path, kind: 'outcome' } },
      h('div.flow-when-line', h('span.flow-when-word', t('designer.when.step_word')), stepSel, removeBtn),
      quantifier ? h('div.flow-when-line', h('span.flow-when-word', t('designer.when.of_instances')), quantifier) : null,
      h('div.flow-when-line', h('span.flow-when-word', t('designer.when.outcome_is')), h('span.flow-when-boxes', boxes)),
      problem);
  }
  const known = fields.find((f) => f.name === row.field);
  const fieldSel = choice([...fields.map((f) => [f.name, f.label]), ...(known ? [] : [[row.field || '', row.field || '—']])],
    row.field, t('designer.when.field'));
  const type = known ? known.spec.type : 'text';
  const ops = OPERATORS_BY_TYPE[type] || ['empty'];
  const opSel = choice([...ops, ...(ops.includes(row.op) ? [] : [row.op])].map((op) => [op, t(`designer.op.${op}`)]), row.op, t('designer.when.operator'));
  fieldSel.addEventListener('change', () => {
    const f = fields.find((x) => x.name === fieldSel.value);
    const fits = OPERATORS_BY_TYPE[f.spec.type] || ['empty'];
    const op = fits.includes(row.op) ? row.op : fits.includes('eq') ? 'eq' : fits[0];
    const value = op === 'empty' ? true : f.spec.type === 'boolean' ? true : f.spec.options ? f.spec.options[0] : '';
    change(() => ({ field: f.name, op, value }));
  });
  opSel.addEventListener('change', () => {
    const op = opSel.value;
    change((cur) => {
      let value = cur.value;
      if (op === 'empty') value = true;
      else if (op === 'in') value = Array.isArray(value) ? value : value === undefined || value === true || value === '' ? [] : [value];
      else if (Array.isArray(value)) value = value[0] ?? '';
      else if (cur.op === 'empty') value = type === 'boolean' ? true : known && known.spec.options ? known.spec.options[0] : '';
      return { field: cur.field, op, value };
    });
  });
  let valueEl;
  const label = t('designer.when.value');
  if (row.op === 'empty') {
    valueEl = choice([['true', t('designer.when.is_empty')], ['false', t('designer.when.not_empty')]], String(row.value !== false), label);
    valueEl.addEventListener('change', () => change((cur) => ({ ...cur, value: valueEl.value === 'true' })));
  } else if (type === 'boolean') {
    valueEl = choice([['true', t('designer.when.yes')], ['false', t('designer.when.no')]], String(row.value === true), label);
    valueEl.addEventListener('change', () => change((cur) => ({ ...cur, value: valueEl.value === 'true' })));
  } else if ((type === 'select' || type === 'multiselect') && known.spec.options && row.op !== 'in') {
    valueEl = choice(known.spec.options.map((o) => [o, o]), row.value, label);
    valueEl.addEventListener('change', () => change((cur) => ({ ...cur, value: valueEl.value })));
  } else if (row.op === 'in') {
    valueEl = h('input.input', { type: 'text', 'aria-label': label, placeholder: t('designer.when.in_hint') });
    valueEl.value = (Array.isArray(row.value) ? row.value : []).join(', ');
    valueEl.addEventListener('input', () => change((cur) => ({ ...cur,
      value: valueEl.value.split(/[,，]/).map((x) => x.trim()).filter(Boolean).map((x) => typed(type, x)) }), `${path}-value`));
  } else {
    const inputType = { number: 'number', integer: 'number', user: 'number', date: 'date' }[type] || 'text';
    valueEl = h('input.input', { type: inputType, 'aria-label': label, step: type === 'number' ? 'any' : null,
      placeholder: type === 'datetime' ? '2026-01-31T18:00:00+08:00' : null });
    valueEl.value = row.value === undefined || row.value === null ? '' : String(row.value);
    valueEl.addEventListener('input', () => change((cur) => ({ ...cur, value: typed(type, valueEl.value) }), `${path}-value`));
  }
  return h('li.flow-when-row', { dataset: { field: path, kind: 'field' } },
    h('div.flow-when-line', h('span.flow-when-word', t('designer.when.field_word')), fieldSel, removeBtn),
    h('div.flow-when-line', opSel, valueEl),
    problem);
}
