// Comparing two versions of a template (GET /templates/{key}/diff): the template's settings, the fields of its form,
// the steps added, removed and changed, each change field by field, old value beside the new.
import { h, uid } from '../ui/dom.js';
import { t } from '../i18n.js';
import * as session from '../session.js';
import { errorText } from '../ui/errors.js';

const shown = (v) => (v === null || v === undefined ? '—' : typeof v === 'string' ? v : JSON.stringify(v));

function changeTable(changes) {
  return h('table.flow-diff-table',
    h('thead', h('tr', h('th', { scope: 'col' }, t('designer.diff.field')), h('th', { scope: 'col' }, t('designer.diff.before')),
      h('th', { scope: 'col' }, t('designer.diff.after')))),
    h('tbody', changes.map((c) => h('tr', { dataset: { field: c.field } },
      h('th', { scope: 'row' }, h('code', c.field)), h('td.flow-diff-old', shown(c.from)), h('td.flow-diff-new', shown(c.to))))));
}

function listPart(title, part, key, label) {
  const items = [
    ...part.added.map((x) => h('li.flow-diff-added', { dataset: { key: x[key] } }, h('span.chip', t('designer.diff.added')), ' ', x[label] || x[key], ' ', h('code', x[key]))),
    ...part.removed.map((x) => h('li.flow-diff-removed', { dataset: { key: x[key] } }, h('span.chip', t('designer.diff.removed')), ' ', x[label] || x[key], ' ', h('code', x[key]))),
    ...part.changed.map((x) => h('li.flow-diff-changed', { dataset: { key: x[key] } }, h('span.chip', t('designer.diff.changed')), ' ', x[label] || x[key], ' ',
      h('code', x[key]), changeTable(x.fields))),
  ];
  if (part.reordered) items.push(h('li', t('designer.diff.reordered')));
  return items.length ? h('section.flow-diff-part', h('h3.section-title', title), h('ul.flow-diff-list', items)) : null;
}

export function renderDiff(diff) {
  if (diff.same) return h('p.flow-diff-same', t('designer.diff.same', { from: diff.from, to: diff.to }));
  return h('div.flow-diff',
    diff.settings.length ? h('section.flow-diff-part', h('h3.section-title', t('designer.diff.settings')), changeTable(diff.settings)) : null,
    listPart(t('designer.diff.steps'), diff.steps, 'key', 'title'),
    listPart(t('designer.diff.form'), diff.form, 'name', 'label'));
}

/** A dialog picking two versions of template `key` (1…current) and showing what changed between them. */
export function compareVersions({ key, current }) {
  const versions = Array.from({ length: current }, (_, i) => current - i);
  const pick = (value, label) => {
    const id = uid('ver');
    const sel = h(`select#${id}.input`, versions.map((v) => h('option', { value: v }, t('designer.version', { n: v }))));
    sel.value = String(value);
    return { sel, el: h('div.field', h('label', { for: id }, label), sel) };
  };
  const from = pick(current - 1, t('designer.diff.from'));
  const to = pick(current, t('designer.diff.to'));
  const out = h('div.flow-diff-out', { 'aria-live': 'polite' });
  const titleId = uid('dlg');
  const closeBtn = h('button.btn.btn-primary', { type: 'button' }, t('designer.diff.close'));
  const dlg = h('dialog.dialog.flow-diff-dialog', { 'aria-labelledby': titleId },
    h('div.dialog-form',
      h('h2.dialog-title', { id: titleId }, t('designer.diff.title')),
      h('div.dialog-body', h('div.flow-pair', from.el, to.el), out),
      h('div.dialog-actions', closeBtn)));
  async function load() {
    out.replaceChildren(h('p.hint', t('designer.diff.loading')));
    try {
      const diff = await session.get(`/templates/${encodeURIComponent(key)}/diff?from=${from.sel.value}&to=${to.sel.value}`);
      out.replaceChildren(renderDiff(diff));
    } catch (err) {
      out.replaceChildren(h('p.field-error', errorText(err)));
    }
  }
  from.sel.addEventListener('change', load);
  to.sel.addEventListener('change', load);
  const finish = () => { dlg.close(); dlg.remove(); };
  closeBtn.addEventListener('click', finish);
  dlg.addEventListener('cancel', (e) => { e.preventDefault(); finish(); });
  document.body.append(dlg);
  dlg.showModal();
  load();
}
