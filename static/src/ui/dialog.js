// Accessible modal dialogs built on <dialog>.
import { h, uid } from './dom.js';
import { t } from '../i18n.js';

/**
 * Open a modal dialog. `body` is a Node (may contain form fields).
 * Resolves with the value from `collect()` when confirmed, or null when cancelled.
 */
export function openDialog({ title, body, confirmLabel, cancelLabel, danger = false, collect, validate }) {
  return new Promise((resolve) => {
    const titleId = uid('dlg');
    const err = h('p.form-error', { role: 'alert', hidden: true });
    const confirmBtn = h(`button.btn.${danger ? 'btn-danger' : 'btn-primary'}`, { type: 'submit' }, confirmLabel || t('common.confirm'));
    const cancelBtn = h('button.btn.btn-secondary', { type: 'button' }, cancelLabel || t('common.cancel'));
    const form = h('form.dialog-form', { method: 'dialog', novalidate: true },
      h('h2.dialog-title', { id: titleId }, title),
      body ? h('div.dialog-body', body) : null,
      err,
      h('div.dialog-actions', cancelBtn, confirmBtn));
    const dlg = h('dialog.dialog', { 'aria-labelledby': titleId }, form);
    let done = false;
    const finish = (value) => {
      if (done) return;
      done = true;
      dlg.close();
      dlg.remove();
      resolve(value);
    };
    cancelBtn.addEventListener('click', () => finish(null));
    dlg.addEventListener('cancel', (e) => {
      e.preventDefault();
      finish(null);
    });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const value = collect ? collect() : true;
      const problem = validate ? validate(value) : null;
      if (problem) {
        err.textContent = problem;
        err.hidden = false;
        return;
      }
      finish(value);
    });
    document.body.append(dlg);
    dlg.showModal();
    const first = dlg.querySelector('textarea, input, select');
    (first || confirmBtn).focus();
  });
}

export function confirmDialog(title, message, opts = {}) {
  return openDialog({ title, body: message ? h('p', message) : null, ...opts }).then((v) => v !== null);
}

/** Ask for a required line of text (a reason, a note). */
export function promptDialog(title, label, opts = {}) {
  const id = uid('prompt');
  const input = opts.multiline
    ? h('textarea.input', { id, rows: 3, required: opts.required !== false, maxlength: 2000 })
    : h('input.input', { id, type: 'text', required: opts.required !== false, autocomplete: 'off' });
  const body = h('div.field', h('label', { for: id }, label), input, opts.hint ? h('p.hint', opts.hint) : null);
  return openDialog({
    title,
    body,
    confirmLabel: opts.confirmLabel,
    danger: opts.danger,
    collect: () => input.value.trim(),
    validate: (v) => (opts.required !== false && !v ? t('form.required') : null),
  });
}
