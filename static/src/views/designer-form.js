// The designer's form builder: the fields of a step's completion form (or the template's opening form), each with
// its name, type, label (plain and per language), required and options; fields added, moved and removed. Beside it a
// phone-sized preview of the screen a handler completes, drawn by the staff app's own form code in the language
// picked. Words per language (titles, outcomes, labels) are stored only when given, so a template read and published
// unchanged stays the same.
import { h, uid } from '../ui/dom.js';
import { t, tMaybe, getLocale, LOCALES } from '../i18n.js';
import { renderFields } from '../ui/fields.js';

export const FIELD_TYPES = ['text', 'textarea', 'number', 'integer', 'boolean', 'date', 'datetime', 'select', 'multiselect', 'user',
  'list', 'attachment', 'photos', 'signature', 'barcode', 'location'];
const CHOICES = ['select', 'multiselect'];

/** Set `obj[key][lang]` to `text`, dropping the language (and the key) when emptied. */
export function setWord(obj, key, lang, text) {
  const words = { ...(obj[key] || {}) };
  if (text.trim()) words[lang] = text; else delete words[lang];
  if (Object.keys(words).length) obj[key] = words; else delete obj[key];
}

function labelled(label, control, name, hint) {
  const id = control.id || uid('ff');
  control.id = id;
  return h('div.field', { dataset: name ? { field: name } : {} }, h('label', { for: id }, label), control, hint ? h('p.hint', hint) : null,
    h('p.field-error', { hidden: true, role: 'alert' }));
}

function text(value, attrs = {}) {
  const el = h('input.input', { type: 'text', autocomplete: 'off', spellcheck: false, ...attrs });
  el.value = value ?? '';
  return el;
}

const langName = (lang) => t(`lang.${lang}`);

/** A field as the type it now has: options only on choices, barcode settings only on barcodes, counts where they fit. */
function retyped(field, type) {
  const next = { ...field, type };
  if (CHOICES.includes(type)) next.options = field.options && field.options.length ? field.options : ['a', 'b'];
  else delete next.options;
  if (type !== 'barcode') { delete next.formats; delete next.must_match; }
  if (!['number', 'integer', 'photos'].includes(type)) { delete next.min; delete next.max; }
  if (!['text', 'textarea'].includes(type)) delete next.max_length;
  return next;
}

/**
 * The builder of `fields` (a form at `path`, "form" of the step or of the template). `edit(mutate, field)` changes the
 * draft: mutate gets the list of fields. `preview()` answers {title, titles, outcomes, outcomeLabels, fields} of the screen as
 * the draft now stands (outcomes absent for the opening form).
 */
export function formBuilder({ fields, edit, kind, preview }) {
  const list = fields || [];
  const items = list.map((f, i) => {
    const at = (mutate, field = null) => edit((all) => { all[i] = mutate({ ...all[i] }) || all[i]; }, field ? `${field}-${i}` : null);
    const name = text(f.name, { maxlength: 64, autocapitalize: 'none' });
    name.addEventListener('change', () => at((x) => ({ ...x, name: name.value.trim() })));
    const label = text(f.label, { maxlength: 200 });
    label.addEventListener('input', () => at((x) => ({ ...x, label: label.value || null }), 'label'));
    const words = LOCALES.map((lang) => {
      const input = text((f.labels || {})[lang], { maxlength: 200, lang });
      input.addEventListener('input', () => at((x) => { setWord(x, 'labels', lang, input.value); return x; }, `labels-${lang}`));
      return labelled(t('designer.form.label_in', { lang: langName(lang) }), input, `labels.${lang}`);
    });
    const type = h('select.input', FIELD_TYPES.map((ty) => h('option', { value: ty }, `${tMaybe(`designer.type.${ty}`, ty)} · ${ty}`)));
    type.value = f.type;
    type.addEventListener('change', () => at((x) => retyped(x, type.value)));
    const required = h('input', { type: 'checkbox', id: uid('req') });
    required.checked = !!f.required;
    required.addEventListener('change', () => at((x) => ({ ...x, required: required.checked })));
    const options = CHOICES.includes(f.type) ? text((f.options || []).join(', '), { maxlength: 4000 }) : null;
    if (options) {
      options.addEventListener('input', () => at((x) => ({ ...x, options: options.value.split(/[,，]/).map((o) => o.trim()).filter(Boolean) }), 'options'));
    }
    const move = (to) => edit((all) => { const [x] = all.splice(i, 1); all.splice(to, 0, x); });
    return h('li.flow-form-item', { dataset: { field: `form.${i}`, name: f.name } },
      h('details', { open: list.length <= 2 || undefined },
        h('summary', h('strong', f.label || f.name), ' ', h('code', f.name), ' · ', tMaybe(`designer.type.${f.type}`, f.type),
          f.required ? ` · ${t('designer.form.required')}` : ''),
        h('div.flow-form-edit',
          h('div.flow-pair', labelled(t('designer.form.label'), label, 'label'), labelled(t('designer.form.name'), name, 'name')),
          h('div.flow-pair', ...words),
          h('div.flow-pair', labelled(t('designer.form.type'), type, 'type'),
            h('div.field.field-check', { dataset: { field: 'required' } },
              h('label.check', { for: required.id }, required, h('span', t('designer.form.required'))),
              h('p.field-error', { hidden: true, role: 'alert' }))),
          options ? labelled(t('designer.form.options'), options, 'options', t('designer.form.options_hint')) : null,
          h('div.button-row',
            h('button.btn.btn-small.btn-secondary', { type: 'button', disabled: i === 0, onclick: () => move(i - 1) }, t('designer.form.up')),
            h('button.btn.btn-small.btn-secondary', { type: 'button', disabled: i === list.length - 1, onclick: () => move(i + 1) }, t('designer.form.down')),
            h('button.btn.btn-small.btn-danger-text', { type: 'button', onclick: () => edit((all) => { all.splice(i, 1); }) },
              t('designer.form.remove'))))),
      h('p.field-error', { hidden: true, role: 'alert' }));
  });
  const add = h('button.btn.btn-small.btn-secondary', { type: 'button', onclick: () => edit((all) => {
    const taken = new Set(all.map((x) => x.name));
    let n = all.length + 1;
    while (taken.has(`field_${n}`)) n += 1;
    all.push({ name: `field_${n}`, label: t('designer.form.new_field'), type: 'text', required: false });
  }) }, t('designer.form.add'));

  // The phone: the screen as a handler sees it, in the language picked.
  let lang = getLocale();
  const phone = h('div.flow-phone', { role: 'group', 'aria-label': t('designer.form.preview') });
  const langPick = h('select.input.flow-phone-lang', { 'aria-label': t('designer.form.preview_language') },
    LOCALES.map((l) => h('option', { value: l }, langName(l))));
  langPick.value = lang;
  langPick.addEventListener('change', () => { lang = langPick.value; draw(); });
  function draw() {
    const screen = preview();
    const shown = (screen.fields || list).map((f) => ({ ...f, label: (f.labels || {})[lang] || f.label || f.name, labels: undefined }));
    const fieldsEl = renderFields(shown, { capture: true });
    const attachments = shown.filter((f) => f.type === 'attachment')
      .map((f) => h('div.field', h('span.flow-phone-label', f.label), h('p.hint', t('designer.form.attachment_preview'))));
    const outcomes = screen.outcomes ? h('fieldset.field.choices', h('legend', t('complete.outcome')),
      h('div.choice-list', screen.outcomes.map((o) => h('label.choice', h('input', { type: 'radio', name: uid('pv'), value: o }),
        h('span', ((screen.outcomeLabels || {})[o] || {})[lang] || tMaybe(`outcome.${o}`, o)))))) : null;
    phone.replaceChildren(
      h('div.flow-phone-bar', h('span', (screen.titles || {})[lang] || screen.title)),
      h('div.flow-phone-screen', { inert: true },
        outcomes,
        fieldsEl.count ? fieldsEl.el : null,
        ...attachments,
        kind === 'step' ? h('div.field', h('span.flow-phone-label', t('complete.note')), h('textarea.input', { rows: 2 })) : null,
        shown.length ? null : h('p.hint', t('designer.form.empty'))));
  }
  draw();
  // Typing a label does not rebuild the panel: the phone follows each keystroke here.
  return h('fieldset.field.flow-fieldset.flow-form', { dataset: { field: 'form' }, oninput: () => draw() },
    h('legend', kind === 'step' ? t('designer.form.step_title') : t('designer.form.template_title')),
    h('ol.flow-form-list', items), h('div.button-row', add),
    h('p.field-error', { hidden: true, role: 'alert', dataset: { own: 'form' } }),
    h('div.flow-phone-head', h('span', t('designer.form.preview')), langPick),
    phone);
}

/** The step's words per language: its title, and how each outcome is said. */
export function wordsEditor({ step, edit }) {
  const titles = LOCALES.map((lang) => {
    const input = text((step.titles || {})[lang], { maxlength: 200, lang });
    input.addEventListener('input', () => edit((s) => setWord(s, 'titles', lang, input.value), `titles-${lang}`));
    return labelled(t('designer.form.title_in', { lang: langName(lang) }), input, `titles.${lang}`);
  });
  const outcomes = (step.outcomes || ['done']).map((o) => h('div.flow-pair', LOCALES.map((lang) => {
    const input = text(((step.outcome_labels || {})[o] || {})[lang], { maxlength: 64, lang, placeholder: tMaybe(`outcome.${o}`, o) });
    input.addEventListener('input', () => edit((s) => {
      const all = { ...(s.outcome_labels || {}) };
      setWord(all, o, lang, input.value);
      if (Object.keys(all).length) s.outcome_labels = all; else delete s.outcome_labels;
    }, `outcome-${o}-${lang}`));
    return labelled(t('designer.form.outcome_in', { outcome: o, lang: langName(lang) }), input, `outcome_labels.${o}`);
  })));
  return h('fieldset.field.flow-fieldset', { dataset: { field: 'titles' } },
    h('legend', t('designer.form.words')),
    h('p.hint', t('designer.form.words_hint')),
    h('div.flow-pair', titles), outcomes,
    h('p.field-error', { hidden: true, role: 'alert', dataset: { own: 'titles' } }));
}
