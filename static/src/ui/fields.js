// Renders a template / step form ({name, label, type, required, options}) and collects values.
import { h, uid } from './dom.js';
import { t, getLocale } from '../i18n.js';
import { captureField, FILE_TYPES } from './capture.js';

function toLocalInput(iso, withTime) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  const date = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
  return withTime ? `${date}T${p(d.getHours())}:${p(d.getMinutes())}` : date;
}

function showError(c, msg) {
  c.err.textContent = msg || '';
  c.err.hidden = !msg;
  c.node.classList.toggle('has-error', Boolean(msg));
  if (c.control) c.control.setAttribute('aria-invalid', msg ? 'true' : 'false');
}

/**
 * @param {Array} fields form definition
 * @param {object} opts {values, skip: [names], prefix, capture: offer photos and signatures (files the caller uploads:
 *   `files()`), context: {expected(key)} — the work order's value a barcode is checked against}
 * @returns {{el: HTMLElement, collect: () => object, validate: () => object, setErrors: (map) => void, focusFirstError: () => void}}
 */
export function renderFields(fields, opts = {}) {
  const skip = new Set(opts.skip || []);
  const values = opts.values || {};
  const controls = [];
  const wrap = h('div.fields');
  for (const f of fields || []) {
    // Attachments are never typed in: the photo picker (task screen) handles them.
    if (!f || !f.name || skip.has(f.name) || f.type === 'attachment') continue;
    if (FILE_TYPES.includes(f.type) && !opts.capture) continue;
    const id = uid('fld');
    const errId = `${id}-err`;
    const label = (f.labels && f.labels[getLocale()]) || f.label || f.name; // a label per language where the template gives one
    const err = h('p.field-error', { id: errId, hidden: true });
    const req = f.required ? h('span.req', ` (${t('form.required_marker')})`) : null;
    let control;
    let get;
    let node;
    let capture = null;
    const common = { id, name: f.name, 'aria-describedby': errId, required: Boolean(f.required) };
    switch (f.type) {
      case 'textarea':
        control = h('textarea.input', { ...common, rows: 3, maxlength: f.max_length || 20000 }); // the server's limits
        control.value = values[f.name] ?? '';
        get = () => control.value.trim() || undefined;
        break;
      case 'number':
      case 'integer':
        control = h('input.input', { ...common, type: 'number', inputmode: f.type === 'integer' ? 'numeric' : 'decimal', step: f.type === 'integer' ? '1' : 'any' });
        control.value = values[f.name] ?? '';
        get = () => {
          if (control.value === '') return undefined;
          const n = Number(control.value);
          return Number.isNaN(n) ? control.value : n;
        };
        break;
      case 'boolean': {
        control = h('input.switch', { id, name: f.name, type: 'checkbox', 'aria-describedby': errId });
        control.checked = Boolean(values[f.name]);
        get = () => control.checked;
        node = h('div.field.field-check', h('label.check', { for: id }, control, h('span', label, req)), err);
        break;
      }
      case 'date':
        control = h('input.input', { ...common, type: 'date' });
        control.value = values[f.name] ?? '';
        get = () => control.value || undefined;
        break;
      case 'datetime':
        control = h('input.input', { ...common, type: 'datetime-local' });
        control.value = toLocalInput(values[f.name], true);
        get = () => (control.value ? new Date(control.value).toISOString() : undefined);
        break;
      case 'select':
        control = h('select.input', common,
          h('option', { value: '' }, t('form.choose')),
          (f.options || []).map((o) => h('option', { value: o }, o)));
        control.value = values[f.name] ?? '';
        get = () => control.value || undefined;
        break;
      case 'multiselect': {
        const chosen = new Set(values[f.name] || []);
        const boxes = (f.options || []).map((o) => {
          const bid = uid('opt');
          const cb = h('input', { type: 'checkbox', id: bid, value: o, name: f.name });
          cb.checked = chosen.has(o);
          return { cb, el: h('label.check.check-option', { for: bid }, cb, h('span', o)) };
        });
        get = () => {
          const v = boxes.filter((b) => b.cb.checked).map((b) => b.cb.value);
          return v.length ? v : undefined;
        };
        control = boxes[0] ? boxes[0].cb : null;
        node = h('fieldset.field.field-multi', { 'aria-describedby': errId },
          h('legend', label, req), h('div.options', boxes.map((b) => b.el)), err);
        break;
      }
      case 'photos':
      case 'signature':
      case 'barcode':
      case 'location':
        capture = captureField(f, { id, errId, label, req, err, values, context: opts.context });
        ({ control, get, node } = capture);
        break;
      default:
        control = h('input.input', { ...common, type: 'text', autocomplete: 'off', maxlength: f.max_length || 2000 });
        control.value = values[f.name] ?? '';
        get = () => control.value.trim() || undefined;
    }
    if (!node) node = h('div.field', h('label', { for: id }, label, req), control, err);
    wrap.append(node);
    const entry = { f, get, err, control, node };
    controls.push(entry);
    if (capture) Object.assign(entry, { check: capture.check, files: capture.files });
    // A message goes as soon as the person changes what it was about, not at the next submit.
    const clear = () => showError(entry, '');
    node.addEventListener('input', clear);
    node.addEventListener('change', clear);
  }

  const setErrors = (map = {}) => {
    for (const c of controls) showError(c, map[c.f.name] || map[`data.${c.f.name}`]);
  };
  const collect = () => {
    const out = {};
    for (const c of controls) {
      const v = c.get();
      if (v !== undefined) out[c.f.name] = v;
    }
    return out;
  };
  const validate = () => {
    const errors = {};
    for (const c of controls) {
      if (c.check) { // photos and a signature say themselves what they miss
        const problem = c.check();
        if (problem) errors[c.f.name] = problem;
        continue;
      }
      const v = c.get();
      if (c.f.required && c.f.type !== 'boolean' && (v === undefined || (Array.isArray(v) && !v.length))) errors[c.f.name] = t('form.required');
      else if ((c.f.type === 'number' || c.f.type === 'integer') && v !== undefined && typeof v !== 'number') errors[c.f.name] = t('form.number');
      else if (c.f.type === 'integer' && typeof v === 'number' && !Number.isInteger(v)) errors[c.f.name] = t('form.integer');
    }
    setErrors(errors);
    return errors;
  };
  const focusFirstError = () => {
    const c = controls.find((x) => !x.err.hidden);
    if (!c) return false;
    c.node.scrollIntoView({ block: 'center', behavior: 'smooth' });
    if (c.control) c.control.focus({ preventScroll: true });
    return true;
  };
  // The photos and signatures to upload before the values are sent: [{field, multi, blob, name}].
  const files = async () => (await Promise.all(controls.filter((c) => c.files).map((c) => c.files()))).flat();
  return { el: wrap, collect, validate, setErrors, focusFirstError, files, count: controls.length };
}
