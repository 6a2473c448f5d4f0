// The console's QR entry points (#/admin/qr): printed codes that open a prefilled new work order (a shelf, a vehicle,
// a store counter). List, create, edit, withdraw; a preview of each code, its PNG, and an A4 sheet of the chosen ones.
import { h, icon, replace, uid } from '../ui/dom.js';
import { t } from '../i18n.js';
import * as session from '../session.js';
import { toast } from '../ui/toast.js';
import { errorText } from '../ui/errors.js';
import { confirmDialog } from '../ui/dialog.js';
import { loading, emptyState, errorState } from '../ui/parts.js';
import { renderFields } from '../ui/fields.js';
import { shell, allOf, textField, selectField, saveError, submitDialog } from './admin.js';

const PRIORITIES = ['P1', 'P2', 'P3', 'P4'];
// Field types a printed code cannot carry: they belong to one work order, one person, or the moment of the scan.
const NOT_PREFILLED = new Set(['attachment', 'photos', 'signature', 'location', 'user']);

/** A file the API answers (an image, a PDF), fetched with the session's credentials. */
async function fetchFile(path) {
  const res = await fetch(`/api/v1${path}`, { headers: { Authorization: `Bearer ${session.token()}` }, cache: 'no-store' });
  if (!res.ok) {
    let body = null;
    try {
      body = await res.json();
    } catch {
      /* not JSON */
    }
    const e = (body && body.error) || {};
    throw Object.assign(new Error(e.message || res.statusText), { status: res.status, code: e.code || `http_${res.status}`, details: e.details || {} });
  }
  return res.blob();
}

function download(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

const fileName = (name) => `qr-${String(name).replace(/[\\/:*?"<>|\s]+/g, '-')}`;

export function qrView(el) {
  const list = h('div.admin-list', loading());
  const printBtn = h('button.btn.btn-secondary', { type: 'button', disabled: true }, icon('orders'), h('span', t('qr.print_selected')));
  const cleanup = shell(el, 'qr',
    h('div.page-head-row', h('p.hint', t('qr.console_hint')),
      h('div.button-row',
        h('button.btn.btn-primary', { type: 'button', onclick: () => edit(null) }, icon('plus'), h('span', t('qr.new'))),
        printBtn)),
    list);
  const previews = new Set();
  const chosen = new Set();
  let templates = [];
  let depts = [];

  const templateName = (key) => (templates.find((x) => x.key === key) || {}).name || key;
  const deptName = (id) => (depts.find((d) => d.id === id) || {}).name;
  const refreshPrint = () => {
    printBtn.disabled = !chosen.size;
    printBtn.lastChild.textContent = chosen.size ? t('qr.print_n', { n: chosen.size }) : t('qr.print_selected');
  };

  function preview(entry, size) {
    const img = h('img.qr-preview', { alt: t('qr.preview_alt', { name: entry.name }), width: size, height: size });
    fetchFile(`/entry-points/${entry.id}/qr.png?scale=8`).then((blob) => {
      const url = URL.createObjectURL(blob);
      previews.add(url);
      img.src = url;
    }).catch(() => img.replaceWith(h('p.hint', t('qr.preview_failed'))));
    return img;
  }

  async function load() {
    try {
      const [page, tpls, d] = await Promise.all([session.get('/entry-points?per_page=500'),
        templates.length ? templates : allOf('/templates'), depts.length ? depts : allOf('/departments')]);
      templates = tpls;
      depts = d;
      previews.forEach((url) => URL.revokeObjectURL(url));
      previews.clear();
      [...chosen].filter((id) => !page.items.some((e) => e.id === id && e.active)).forEach((id) => chosen.delete(id));
      refreshPrint();
      replace(list, page.items.length ? h('ul.cards.qr-list', page.items.map(card)) : emptyState(t('qr.none')));
    } catch (err) {
      replace(list, errorState(errorText(err), load));
    }
  }

  function card(entry) {
    const pick = h('input', { type: 'checkbox', id: uid('pick'), disabled: !entry.active });
    pick.checked = chosen.has(entry.id);
    pick.addEventListener('change', () => {
      if (pick.checked) chosen.add(entry.id);
      else chosen.delete(entry.id);
      refreshPrint();
    });
    const prefill = entry.prefill || {};
    const facts = [entry.template_name || templateName(entry.template), prefill.location, deptName(entry.department_id)].filter(Boolean);
    return h('li.card.qr-card', { dataset: { code: entry.code } },
      preview(entry, 112),
      h('div.qr-card-body',
        h('div.card-top',
          h('label.check', { for: pick.id }, pick, h('span.card-title', entry.name)),
          entry.active ? null : h('span.chip.chip-cancelled', t('qr.withdrawn'))),
        h('p.card-step.muted', facts.join(' · ')),
        prefill.title ? h('p.card-step', t('qr.opens_as', { title: prefill.title })) : null,
        h('p.qr-url', h('code', entry.url)),
        h('div.button-row',
          h('button.btn.btn-small.btn-secondary', { type: 'button', onclick: () => edit(entry) }, t('qr.edit')),
          h('button.btn.btn-small.btn-secondary', { type: 'button', onclick: () => downloadPng(entry) }, t('qr.download_png')),
          h(`button.btn.btn-small.${entry.active ? 'btn-danger-text' : 'btn-secondary'}`, { type: 'button', onclick: () => toggle(entry) },
            entry.active ? t('qr.withdraw') : t('qr.reactivate')))));
  }

  async function downloadPng(entry) {
    try {
      download(await fetchFile(`/entry-points/${entry.id}/qr.png?scale=12`), `${fileName(entry.name)}.png`);
    } catch (err) {
      toast(errorText(err), 'error');
    }
  }

  printBtn.addEventListener('click', async () => {
    if (!chosen.size) return;
    printBtn.disabled = true;
    try {
      download(await fetchFile(`/entry-points/qr.pdf?ids=${[...chosen].join(',')}`), 'qr-codes.pdf');
      toast(t('qr.pdf_ready', { n: chosen.size }), 'ok');
    } catch (err) {
      toast(saveError(err), 'error', 8000);
    } finally {
      refreshPrint();
    }
  });

  async function toggle(entry) {
    if (entry.active && !(await confirmDialog(t('qr.withdraw_title', { name: entry.name }), t('qr.withdraw_body'),
      { confirmLabel: t('qr.withdraw'), danger: true }))) return;
    try {
      await session.patch(`/entry-points/${entry.id}`, { active: !entry.active });
      toast(entry.active ? t('qr.withdrawn_named', { name: entry.name }) : t('qr.reactivated', { name: entry.name }), 'ok');
      load();
    } catch (err) {
      toast(saveError(err), 'error', 8000);
    }
  }

  async function edit(entry) {
    if (!templates.length || !depts.length) [templates, depts] = await Promise.all([allOf('/templates'), allOf('/departments')]);
    const prefill = (entry && entry.prefill) || {};
    const name = textField(t('qr.field.name'), entry ? entry.name : '', { maxlength: 200, placeholder: t('qr.name_placeholder') });
    const template = selectField(t('qr.field.template'), [['', t('form.choose')], ...templates.map((x) => [x.key, x.name])],
      entry ? entry.template : '');
    const dept = selectField(t('qr.field.department'), [['', t('qr.scanners_department')], ...depts.map((d) => [d.id, d.name])],
      entry ? entry.department_id : '');
    const title = textField(t('qr.field.title'), prefill.title, { maxlength: 300 });
    const descId = uid('desc');
    const desc = h('textarea.input', { id: descId, rows: 2, maxlength: 20000 });
    desc.value = prefill.description || '';
    const location = textField(t('qr.field.location'), prefill.location, { maxlength: 200, placeholder: t('qr.location_placeholder') });
    const sku = textField(t('qr.field.product_sku'), prefill.product_sku, { maxlength: 64, autocapitalize: 'characters' });
    const priority = selectField(t('qr.field.priority'), [['', t('qr.template_priority')], ...PRIORITIES.map((p) => [p, `${p} · ${t(`priority.${p}`)}`])],
      prefill.priority || '');
    const formBox = h('div.qr-template-fields');
    let fields = null;
    let shown = new Set();
    const drawFields = (values) => {
      const tpl = templates.find((x) => x.key === template.select.value);
      const form = ((tpl && tpl.form) || []).filter((f) => f && !NOT_PREFILLED.has(f.type)).map((f) => ({ ...f, required: false }));
      shown = new Set(form.map((f) => f.name));
      fields = form.length ? renderFields(form, { values }) : null;
      replace(formBox, fields ? h('fieldset.field', h('legend', t('qr.field.form_values')), h('p.hint', t('qr.form_values_hint')), fields.el) : null);
    };
    template.select.addEventListener('change', () => drawFields(fields ? fields.collect() : {}));
    drawFields(prefill.data || {});
    const saved = await submitDialog({
      title: entry ? t('qr.edit_named', { name: entry.name }) : t('qr.new'),
      body: h('div.fields',
        entry ? h('div.qr-dialog-preview', preview(entry, 160), h('p.qr-url', h('code', entry.url))) : null,
        name.field, template.field, dept.field,
        h('fieldset.field', h('legend', t('qr.field.prefill')), h('p.hint', t('qr.prefill_hint')),
          title.field, h('div.field', h('label', { for: descId }, t('qr.field.description')), desc), location.field, sku.field, priority.field),
        formBox),
      confirmLabel: entry ? t('admin.save') : t('admin.create'),
      collect: () => {
        if (!name.input.value.trim()) return { problem: t('qr.name_required') };
        if (!template.select.value) return { problem: t('qr.template_required') };
        const opt = (v) => v.trim() || null;
        const data = fields ? fields.collect() : {};
        // Values of the same template this dialog does not show are kept as they were (set through the API).
        const kept = Object.fromEntries(Object.entries(prefill.data || {}).filter(([k]) => !shown.has(k)));
        return {
          name: name.input.value.trim(), template: template.select.value,
          department_id: dept.select.value ? Number(dept.select.value) : null,
          prefill: { title: opt(title.input.value), description: opt(desc.value), location: opt(location.input.value),
            product_sku: opt(sku.input.value), priority: priority.select.value || null,
            data: entry && entry.template === template.select.value ? { ...kept, ...data } : data },
        };
      },
      send: (body) => (entry ? session.patch(`/entry-points/${entry.id}`, body) : session.post('/entry-points', body)),
    });
    if (saved) {
      toast(t('admin.saved', { name: saved.name }), 'ok');
      load();
    }
  }

  load();
  return () => {
    previews.forEach((url) => URL.revokeObjectURL(url));
    cleanup();
  };
}
