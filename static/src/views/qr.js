// A scanned QR entry point (#/qr/:code), for anyone signed in: the entry point's name, a short form prefilled by the
// admin who printed it (title, description, the template's own fields), sent as a new work order (source qr); then the
// task it offers the person, or the work order itself.
import { h, replace, uid } from '../ui/dom.js';
import { t } from '../i18n.js';
import { get, post, user } from '../session.js';
import { uuid } from '../core/http.js';
import { LIMITS } from '../core/limits.js';
import { navigate } from '../router.js';
import { pageHeader, loading, errorState, dl } from '../ui/parts.js';
import { renderFields } from '../ui/fields.js';
import { toast } from '../ui/toast.js';
import { errorText, fieldErrors } from '../ui/errors.js';

const REFUSED = new Set(['entry_point_not_found', 'entry_point_inactive', 'entry_point_template_retired']);

/** The task of a new work order that waits on `me` (assigned to them, or offered to them), if any. */
function taskFor(workOrder, me) {
  return (workOrder.tasks || []).find((task) => task.status !== 'cancelled'
    && (task.assignee_id === me || (!task.assignee_id && (task.candidates || []).includes(me))));
}

export function scanView(el, params) {
  const code = params.code;
  const root = h('div.page.page-qr', pageHeader(t('qr.title')), loading());
  el.append(root);
  let idemKey = uuid();

  function load() {
    replace(root, pageHeader(t('qr.title')), loading());
    get(`/entry-points/by-code/${encodeURIComponent(code)}`).then((entry) => {
      if (el.isConnected) build(entry);
    }).catch((err) => {
      if (!el.isConnected) return;
      // A withdrawn or unknown code will not start working by trying again; a lost connection may.
      const final = REFUSED.has(err.code) || err.status === 404 || err.status === 410;
      replace(root, pageHeader(t('qr.title')), errorState(errorText(err), final ? null : load),
        final ? h('p.hint', t('qr.refused_hint')) : null,
        h('a.btn.btn-secondary', { href: '#/inbox' }, t('qr.to_inbox')));
    });
  }

  function build(entry) {
    const prefill = entry.prefill || {};
    const template = entry.template || {};
    const errs = {};
    const field = (name, label, control, hint) => {
      errs[name] = h('p.field-error', { hidden: true });
      return h('div.field', h('label', { for: control.id }, label), control, hint ? h('p.hint', hint) : null, errs[name]);
    };
    const title = h('input.input', { id: uid('title'), name: 'title', type: 'text', maxlength: LIMITS.workOrderTitle, autocomplete: 'off' });
    title.value = prefill.title || '';
    const desc = h('textarea.input', { id: uid('desc'), name: 'description', rows: 3, maxlength: LIMITS.workOrderDescription });
    desc.value = prefill.description || '';
    const fields = renderFields(template.form || [], { values: prefill.data || {} });
    const formErr = h('p.form-error', { role: 'alert', hidden: true });
    const submit = h('button.btn.btn-primary.btn-block.btn-large', { type: 'submit' }, t('qr.submit'));
    const form = h('form.new-form.qr-form', { novalidate: true },
      field('title', t('new.wo_title'), title),
      field('description', t('qr.description'), desc, t('qr.description_hint')),
      fields.count ? h('fieldset.field', h('legend', t('new.template_fields')), fields.el) : null,
      formErr,
      h('div.action-bar', submit));
    const showErr = (name, msg) => {
      if (!errs[name]) return false;
      errs[name].textContent = msg || '';
      errs[name].hidden = !msg;
      return true;
    };

    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      Object.keys(errs).forEach((k) => showErr(k, ''));
      formErr.hidden = true;
      const missingTitle = !title.value.trim();
      if (missingTitle) showErr('title', t('form.required'));
      const fieldErrs = fields.validate();
      if (missingTitle || Object.keys(fieldErrs).length) {
        formErr.textContent = t('form.fix_errors');
        formErr.hidden = false;
        (form.querySelector('.field-error:not([hidden])')?.closest('.field')?.querySelector('input,select,textarea') || title).focus();
        return;
      }
      submit.disabled = true;
      submit.textContent = t('common.sending');
      try {
        const created = await post(`/entry-points/by-code/${encodeURIComponent(code)}/work-orders`,
          { title: title.value.trim(), description: desc.value.trim(), data: fields.collect() }, { key: idemKey });
        idemKey = uuid();
        toast(t('qr.created', { number: created.number || '' }), 'ok');
        const me = user() ? user().id : null;
        const task = taskFor(created, me);
        navigate(task ? `/task/${task.id}` : `/wo/${created.id}`);
      } catch (err) {
        const dataErrs = {};
        for (const [k, v] of Object.entries(fieldErrors(err))) {
          if (k.startsWith('data.')) dataErrs[k.slice(5)] = v;
          else showErr(k, v);
        }
        fields.setErrors(dataErrs);
        formErr.textContent = errorText(err);
        formErr.hidden = false;
        if (err.status && err.status < 500) idemKey = uuid(); // a corrected form is a new request; a lost answer is retried as is
      } finally {
        submit.disabled = false;
        submit.textContent = t('qr.submit');
      }
    });

    replace(root,
      pageHeader(entry.name),
      h('p.qr-template', h('span.muted', t('qr.starts')), ' ', h('strong', template.name || template.key || '')),
      dl([[t('qr.location'), prefill.location], [t('wo.product_sku'), prefill.product_sku], [t('wo.batch_no'), prefill.batch_no]]),
      form);
  }

  load();
}
