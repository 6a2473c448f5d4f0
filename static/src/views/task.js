import { h, icon, replace, uid } from '../ui/dom.js';
import { t, tMaybe, fmtWhen, getLocale, stepTitle } from '../i18n.js';
import { api, post, user } from '../session.js';
import { uuid } from '../core/http.js';
import { navigate } from '../router.js';
import { bus } from '../bus.js';
import { priorityBadge, countdown, loading, errorState, staleNotice, modeLabel, statusChip, dl } from '../ui/parts.js';
import { renderFields } from '../ui/fields.js';
import { timeline } from '../ui/timeline.js';
import { toast } from '../ui/toast.js';
import { errorText, fieldErrors } from '../ui/errors.js';
import { personField } from '../ui/people.js';
import { attachmentTile, isAttachment } from '../ui/attachments.js';
import { capturedValue } from '../ui/captured.js';
import { matchLabel } from '../ui/capture.js';
import { openDialog, promptDialog } from '../ui/dialog.js';
import { downscalePhoto, MAX_UPLOAD } from '../ui/photo.js';
import { perform, pendingFor, onOutboxChange, discard } from '../outbox-client.js';
import { taskAbilities, taskLabel, claimTask, pendingChip, workOrderRefRows } from './tasklib.js';

function fmtBytes(n) {
  return n > 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1024))} KB`;
}

const CLAIMABLE_POLL_MS = 15000; // the floor under `GET /changes` (live.js) and pushes

export default function taskView(el, params) {
  const id = params.id;
  let task = null;
  let wo = null;
  let cachedAt = null;
  let error = null;
  let photo = null; // {blob, url}
  let form = null; // current complete-form state
  let formDirty = false; // the person has started filling it in: a reload must not wipe what they entered
  let submitting = false;

  const root = h('div.page.page-task');
  el.append(root);

  async function load() {
    const before = task;
    try {
      const res = await api('GET', `/tasks/${encodeURIComponent(id)}`);
      task = res.data;
      cachedAt = res.cachedAt;
      error = null;
    } catch (err) {
      error = err;
    }
    if (task) {
      try {
        wo = (await api('GET', `/work-orders/${task.work_order_id}`)).data;
      } catch {
        wo = wo || null; // the task alone is enough to act
      }
    }
    // Nothing changed that the screen acts on (a late answer, a refresh): keep what the person is typing.
    const unchanged = before && task && before.status === task.status && before.assignee_id === task.assignee_id
      && before.version === task.version;
    if (el.isConnected && !submitting && !(unchanged && formDirty && form && form.isConnected)) draw();
  }

  // The work order's value a barcode is checked against: one of its references, else a key of its data.
  function expectedValue(key) {
    const kase = (task && task.case) || {};
    if (kase.refs && kase.refs[key] !== undefined) return kase.refs[key];
    const found = (kase.data || []).find((d) => d.name === key);
    return found ? found.value : undefined;
  }

  function photoPicker(required) {
    const inputId = uid('photo');
    const input = h('input.file-input', { id: inputId, type: 'file', accept: 'image/*', capture: 'environment', 'aria-describedby': `${inputId}-hint` });
    const preview = h('div.photo-preview');
    const hint = h('p.hint', { id: `${inputId}-hint` }, t('photo.hint'));
    const err = h('p.field-error', { hidden: true, role: 'alert' });
    const btnText = h('span', t('photo.take'));
    const showPreview = () => {
      btnText.textContent = photo ? t('photo.retake') : t('photo.take');
      if (!photo) {
        replace(preview);
        return;
      }
      replace(preview,
        h('img', { src: photo.url, alt: t('photo.preview_alt'), width: 96, height: 96 }),
        h('div', h('p', t('photo.ready', { size: fmtBytes(photo.blob.size) })),
          h('button.btn.btn-ghost', {
            type: 'button',
            onclick: () => {
              URL.revokeObjectURL(photo.url);
              photo = null;
              input.value = '';
              showPreview();
            },
          }, t('photo.remove'))));
    };
    input.addEventListener('change', async () => {
      const file = input.files && input.files[0];
      err.hidden = true;
      if (!file) return;
      replace(preview, h('p.muted', { role: 'status' }, t('photo.processing')));
      try {
        const blob = await downscalePhoto(file);
        if (blob.size > MAX_UPLOAD) throw Object.assign(new Error('big'), { code: 'file_too_large' });
        if (photo) URL.revokeObjectURL(photo.url);
        photo = { blob, url: URL.createObjectURL(blob), name: file.name && blob === file ? file.name : null };
      } catch (e) {
        err.textContent = e.code === 'file_too_large' ? t('err.file_too_large') : t('photo.unreadable');
        err.hidden = false;
      }
      showPreview();
    });
    showPreview();
    return {
      el: h('div.field.photo-field',
        h('span.label-text', t('photo.label'), required ? h('span.req', ` (${t('form.required_marker')})`) : null),
        h('label.btn.btn-secondary.btn-block.photo-btn', { for: inputId }, icon('camera'), btnText),
        input, hint, err, preview),
      setError(msg) {
        err.textContent = msg || '';
        err.hidden = !msg;
      },
    };
  }

  function completeForm(ab) {
    const formId = 'complete-form';
    const outcomes = task.outcomes && task.outcomes.length ? task.outcomes : ['done'];
    const outcomeErr = h('p.field-error', { hidden: true, role: 'alert' });
    const radios = outcomes.map((o) => {
      const rid = uid('out');
      const r = h('input', { type: 'radio', name: 'outcome', id: rid, value: o, required: true });
      if (outcomes.length === 1) r.checked = true;
      // The template's own word for the outcome in this language, else the app's, else the outcome itself.
      const said = ((task.outcome_labels || {})[o] || {})[getLocale()] || tMaybe(`outcome.${o}`, o);
      return h('label.choice', { for: rid }, r, h('span', said));
    });
    const fieldsDef = task.form || [];
    // The step's photo field (type "attachment", or named "photo") is filled with the id of the
    // uploaded photo; without such a field the photo is only attached to the work order.
    const photoDef = fieldsDef.find((f) => f.type === 'attachment') || fieldsDef.find((f) => f.name === 'photo');
    // Photos, a signature, a barcode checked against the work order, a position (docs/design.md §15).
    const fields = renderFields(fieldsDef, { skip: photoDef ? [photoDef.name] : [], capture: true, context: { expected: expectedValue } });
    const noteId = uid('note');
    const note = h('textarea.input', { id: noteId, name: 'note', rows: 3, maxlength: 4000 });
    // A step that asks for photos takes them in its own field: no second photo button.
    const picker = photoDef || !fieldsDef.some((x) => x.type === 'photos') ? photoPicker(Boolean(photoDef && photoDef.required)) : { el: null, setError() {} };
    const formErr = h('p.form-error', { role: 'alert', hidden: true });
    const f = h('form.complete-form', { id: formId, novalidate: true },
      h('fieldset.field.choices', h('legend', t('complete.outcome')), h('div.choice-list', radios), outcomeErr),
      fields.count ? h('div.step-fields', fields.el) : null,
      h('div.field', h('label', { for: noteId }, t('complete.note')), note),
      picker.el,
      formErr);
    f.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (submitting) return;
      formErr.hidden = true;
      const chosen = f.querySelector('input[name="outcome"]:checked');
      outcomeErr.hidden = Boolean(chosen);
      outcomeErr.textContent = chosen ? '' : t('complete.pick_outcome');
      const errs = fields.validate();
      const photoMissing = photoDef && photoDef.required && !photo;
      picker.setError(photoMissing ? t('photo.required') : '');
      if (!chosen || Object.keys(errs).length || photoMissing) {
        formErr.textContent = t('form.fix_errors');
        formErr.hidden = false;
        if (!chosen) f.querySelector('input[name="outcome"]').focus();
        else fields.focusFirstError();
        return;
      }
      submitting = true;
      setBusy(true);
      const files = await fields.files();
      const res = await perform({
        kind: 'complete',
        task_id: task.id,
        work_order_id: task.work_order_id,
        label: { ...taskLabel(task), outcome: chosen.value },
        body: { outcome: chosen.value, note: note.value.trim(), data: fields.collect() },
        photo: photo ? photo.blob : null,
        photo_name: photo ? photo.name : null,
        photo_field: photoDef ? photoDef.name : null,
        files,
      });
      submitting = false;
      setBusy(false);
      if (leaveIfSent(res, 'complete.done')) return;
      await discard(res.entry.id);
      const fe = fieldErrors(res.error);
      const dataErrs = {};
      for (const [k, v] of Object.entries(fe)) {
        const name = k.replace(/^data\./, '').split('.')[0]; // `photos.1`, `position.lat`: said at their field
        dataErrs[name] = dataErrs[name] ? `${dataErrs[name]} ${v}` : v;
      }
      if (res.error && res.error.code === 'barcode_mismatch') {
        for (const fd of fieldsDef) {
          if (fd.type === 'barcode' && fd.must_match && dataErrs[fd.name]) dataErrs[fd.name] = t('barcode.mismatch', { what: matchLabel(fd.must_match) });
        }
      }
      fields.setErrors(dataErrs);
      const photoErr = photoDef && (fe[photoDef.name] || fe[`data.${photoDef.name}`]);
      if (photoErr) picker.setError(photoErr);
      formErr.textContent = errorText(res.error);
      formErr.hidden = false;
      // The server's word may be below the fold: bring the first field it names, or the message, into view.
      if (!fields.focusFirstError()) formErr.scrollIntoView({ block: 'center', behavior: 'smooth' });
      if (['task_taken', 'task_completed', 'invalid_transition', 'forbidden'].includes(res.error && res.error.code)) load();
    });
    form = f;
    formDirty = false;
    const markDirty = () => {
      formDirty = true;
      formErr.hidden = true; // the form's own message goes once the person changes something
      if (f.querySelector('input[name="outcome"]:checked')) outcomeErr.hidden = true;
    };
    f.addEventListener('input', markDirty);
    f.addEventListener('change', markDirty);
    return f;
  }

  let actionBar = null;
  function setBusy(b) {
    if (!actionBar) return;
    actionBar.querySelectorAll('button').forEach((x) => (x.disabled = b));
    const primary = actionBar.querySelector('.btn-primary');
    if (!primary) return;
    if (b) {
      primary.dataset.label = primary.textContent;
      primary.textContent = t('common.sending');
    } else if (primary.dataset.label) {
      primary.textContent = primary.dataset.label; // refused: the button says what it does again
    }
  }

  async function doReturn() {
    const reason = await promptDialog(t('return.title'), t('return.reason'), { multiline: true, confirmLabel: t('return.confirm') });
    if (!reason) return;
    const res = await perform({ kind: 'return', task_id: task.id, work_order_id: task.work_order_id, label: taskLabel(task), body: { reason } });
    if (leaveIfSent(res, 'return.done')) return;
    await discard(res.entry.id);
    toast(errorText(res.error), 'error');
    load();
  }

  // A completion or return that went through (or waits in the outbox) leaves for the inbox; false when refused.
  function leaveIfSent(res, doneKey) {
    if (res.state === 'done') toast(t(doneKey), 'ok');
    else if (res.state === 'queued') toast(t('outbox.queued'), 'warn');
    else return false;
    navigate('/inbox');
    return true;
  }

  async function doRelease() {
    if (navigator.onLine === false) {
      toast(t('err.online_only'), 'warn');
      return;
    }
    try {
      await post(`/tasks/${task.id}/release`, {}, { key: uuid() });
      toast(t('release.done'), 'ok');
      bus.emit('inbox:refresh');
      navigate('/inbox');
    } catch (err) {
      toast(errorText(err), 'error');
      load();
    }
  }

  async function doTransfer() {
    if (navigator.onLine === false) {
      toast(t('err.online_only'), 'warn');
      return;
    }
    const woTask = wo && (wo.tasks || []).find((x) => String(x.id) === String(task.id));
    const me = user() ? String(user().id) : '';
    const candidates = ((woTask && (woTask.candidate_people || woTask.candidates)) || []).filter((c) => c && typeof c === 'object' && String(c.id) !== me);
    const selId = uid('to');
    const sel = candidates.length
      ? h('select.input', { id: selId }, h('option', { value: '' }, t('form.choose')), candidates.map((c) => h('option', { value: c.id }, c.name || c.login || c.id)))
      : null;
    // Anyone else is picked by name from the people directory (the API takes their login).
    const other = personField(sel ? t('transfer.or_person') : t('transfer.person'), { hint: t('transfer.hint') });
    const body = h('div', sel ? h('div.field', h('label', { for: selId }, t('transfer.pick')), sel) : null, other.field);
    const target = await openDialog({
      title: t('transfer.title'),
      body,
      confirmLabel: t('transfer.confirm'),
      collect: () => {
        const typed = other.value();
        if (typed) return /^\d+$/.test(typed) ? Number(typed) : typed;
        if (sel && sel.value) return Number(sel.value);
        return '';
      },
      validate: (v) => (v === '' ? t('transfer.missing') : null),
    });
    if (target === null) return;
    try {
      await post(`/tasks/${task.id}/transfer`, { to_user: target }, { key: uuid() });
      toast(t('transfer.done'), 'ok');
      bus.emit('inbox:refresh');
      navigate('/inbox');
    } catch (err) {
      toast(errorText(err), 'error');
    }
  }

  function commentForm() {
    const cid = uid('comment');
    const input = h('textarea.input', { id: cid, rows: 2, maxlength: 4000 });
    const btn = h('button.btn.btn-secondary', { type: 'submit' }, t('comment.send'));
    const f = h('form.comment-form', { novalidate: true },
      h('div.field', h('label', { for: cid }, t('comment.label')), input), btn);
    f.addEventListener('submit', async (e) => {
      e.preventDefault();
      const body = input.value.trim();
      if (!body) {
        input.focus();
        return;
      }
      btn.disabled = true;
      const res = await perform({ kind: 'comment', work_order_id: task.work_order_id, task_id: task.id, label: taskLabel(task), body: { body } });
      btn.disabled = false;
      if (res.state === 'failed') {
        await discard(res.entry.id);
        toast(errorText(res.error), 'error');
        return;
      }
      input.value = '';
      toast(res.state === 'done' ? t('comment.done') : t('outbox.queued'), res.state === 'done' ? 'ok' : 'warn');
      load();
    });
    return f;
  }

  function draw() {
    if (!task) {
      replace(root,
        h('div.page-head', h('a.back-link', { href: '#/inbox' }, icon('back'), h('span', t('nav.inbox'))),
          h('h1.page-title', { tabindex: '-1' }, t('task.title'))),
        error ? errorState(error.status === 404 ? t('err.not_found') : errorText(error), load) : loading());
      return;
    }
    const woInfo = task.work_order || {};
    const pending = pendingFor(task.id);
    const ab = taskAbilities(task, pending);
    const notices = [];
    if (ab.finishing) notices.push(h('p.notice.notice-info', { role: 'status' }, icon('sync'), t('task.waiting_to_send')));
    else if (ab.claimPending) notices.push(h('p.notice.notice-info', icon('sync'), t('task.claim_pending')));
    if (ab.takenByOther) notices.push(h('p.notice.notice-warn', icon('warn'), task.assignee && task.assignee.name ? t('task.taken_by_named', { name: task.assignee.name }) : t('task.taken_by_other')));
    if (ab.closed) notices.push(h('p.notice.notice-info', t(`task.closed.${task.status}`)));

    const refs = wo
      ? dl(workOrderRefRows(wo))
      : null;
    // The case as the task answer gives it: the work order's data and what the steps before this one found.
    const kase = task.case || {};
    const caseData = (kase.data || []).length ? dl(kase.data.map((d) => [d.label || tMaybe(`datakey.${d.name}`, d.name),
      shownValue(d)])) : null;
    const earlier = (kase.earlier || []).length ? h('ol.earlier', kase.earlier.map(earlierStep)) : null;

    const sections = [];
    const description = (wo && wo.description) || woInfo.description;
    if (description) sections.push(h('section.section', { 'aria-labelledby': 'sec-desc' }, h('h2#sec-desc.section-title', t('task.description')), h('p.prewrap', description)));
    if (refs) sections.push(h('section.section', { 'aria-labelledby': 'sec-refs' }, h('h2#sec-refs.section-title', t('task.references')), refs));
    if (caseData) sections.push(h('section.section', { 'aria-labelledby': 'sec-case' }, h('h2#sec-case.section-title', t('task.case')), caseData));
    if (earlier) sections.push(h('section.section', { 'aria-labelledby': 'sec-earlier' }, h('h2#sec-earlier.section-title', t('task.earlier')), earlier));
    if (ab.canComplete) sections.push(h('section.section.section-complete', { 'aria-labelledby': 'sec-complete' }, h('h2#sec-complete.section-title', t('complete.title')), completeForm(ab)));
    if (wo) {
      sections.push(h('section.section', { 'aria-labelledby': 'sec-tl' }, h('h2#sec-tl.section-title', t('timeline.title')),
        timeline(wo.timeline || [], pending.filter((e) => e.kind === 'comment'))));
    }
    sections.push(h('section.section', { 'aria-labelledby': 'sec-comment' }, h('h2#sec-comment.section-title', t('comment.title')), commentForm()));

    // One-hand reach: the main action sits at the bottom of the screen.
    const secondary = [];
    if (ab.canReturn) secondary.push(h('button.btn.btn-secondary', { type: 'button', onclick: doReturn }, t('task.return')));
    if (ab.canRelease) secondary.push(h('button.btn.btn-secondary', { type: 'button', onclick: doRelease }, t('task.release')));
    if (ab.canTransfer) secondary.push(h('button.btn.btn-secondary', { type: 'button', onclick: doTransfer }, t('task.transfer')));
    let primary = null;
    if (ab.canClaim) {
      primary = h('button.btn.btn-primary.btn-block.btn-large', {
        type: 'button',
        onclick: async (e) => {
          e.currentTarget.disabled = true;
          e.currentTarget.textContent = t('claim.busy');
          // Refused because a colleague took it: the screen, loaded again, says who (no second message).
          const res = await claimTask(task, { quietWhenTaken: true });
          if (res.state === 'failed') await discard(res.entry.id);
          bus.emit('inbox:refresh');
          await load();
        },
      }, t('task.claim'));
    } else if (ab.canComplete) {
      primary = h('button.btn.btn-primary.btn-block.btn-large', { type: 'submit', form: 'complete-form' }, t('complete.submit'));
    }
    actionBar = primary || secondary.length
      ? h('div.action-bar', secondary.length ? h('div.action-row', secondary) : null, primary)
      : null;

    replace(root,
      h('div.page-head', h('a.back-link', { href: '#/inbox' }, icon('back'), h('span', t('nav.inbox')))),
      staleNotice(cachedAt),
      h('header.task-head',
        h('div.card-top', priorityBadge(woInfo.priority), h('span.wo-number', woInfo.number || ''), statusChip(task.status)),
        h('h1.page-title', { tabindex: '-1' }, woInfo.title || t('task.untitled')),
        h('p.task-step', t('task.step', { step: stepTitle(task) }), task.instance_label ? ` · ${task.instance_label}` : '', h('span.muted', ` · ${modeLabel(task.mode)}`)),
        // A finished task is not due any more: say when it was done instead of counting down.
        h('div.card-chips', ['open', 'claimed'].includes(task.status) ? countdown(task.due_at)
          : task.completed_at ? h('span.chip', t('task.done_at', { time: fmtWhen(task.completed_at) })) : null, pendingChip(pending),
          task.escalation_level > 0 ? h('span.chip.chip-escalated', t('task.escalated', { n: task.escalation_level })) : null),
        // Why it is due then (the SLA, its calendar, the nights, weekends and holidays not counted), in the reader's language.
        task.due_at && task.due_explained && ['open', 'claimed'].includes(task.status) ? h('p.due-explained', task.due_explained) : null,
        wo && user() && (user().roles || []).some((r) => r === 'lead' || r === 'admin') ? h('a.link', { href: `#/wo/${wo.id}` }, t('task.open_wo')) : null),
      notices,
      sections,
      actionBar);
    root.classList.toggle('has-action-bar', Boolean(actionBar));
  }

  draw();
  load();
  let pendingSig = '';
  const offOutbox = onOutboxChange(() => {
    const sig = pendingFor(id).map((e) => e.id).join(',');
    if (sig === pendingSig) return;
    pendingSig = sig;
    // A queued action was delivered or refused: show the server's view of the task again.
    if (task && !submitting) load();
  });
  const offPush = bus.on('push', (p) => {
    if (p && String(p.task_id) === String(id) && !submitting && !(form && form.contains(document.activeElement))) load();
  });
  // Something was told to the reader (`GET /changes`, live.js): perhaps about this task; look again unless they
  // are filling its form in.
  const offChanges = bus.on('changes', () => {
    if (task && !submitting && !(form && form.contains(document.activeElement))) load();
  });
  // The floor under pushes: while the screen offers a claim, look again every few seconds, so an offer a colleague
  // just took stops offering itself (nothing typed can be lost: a claimable task has no form open).
  const watch = setInterval(() => {
    if (!task || submitting || document.visibilityState !== 'visible' || navigator.onLine === false) return;
    if (taskAbilities(task, pendingFor(id)).canClaim) load();
  }, CLAIMABLE_POLL_MS);
  return () => {
    clearInterval(watch);
    offOutbox();
    offPush();
    offChanges();
    if (photo) URL.revokeObjectURL(photo.url);
  };
}

/** A value of the case as people read it: yes/no, lists joined, an attachment by its file name. */
function caseValue(v) {
  if (typeof v === 'boolean') return v ? t('common.yes') : t('common.no');
  if (Array.isArray(v)) return v.map(caseValue).join(', ');
  if (v && typeof v === 'object') return String(v.filename || v.label || v.name || v.code || v.id || JSON.stringify(v));
  return String(v);
}

/** A value of the case: what was captured in the field as itself (photos, signature, code, position), else as text. */
function shownValue(d) {
  return capturedValue(d) || (isAttachment(d.value) ? attachmentTile(d.value) : caseValue(d.value));
}

/** What one earlier step found: its outcome, who and when, the note and the data filled in. */
function earlierStep(e) {
  return h('li.earlier-step',
    h('p', h('strong', e.instance ? `${e.title} · ${e.instance}` : e.title),
      e.outcome ? h('span.chip', ` ${tMaybe(`outcome.${e.outcome}`, e.outcome)}`) : null),
    h('p.muted', t('task.done_by', { name: (e.completed_by && e.completed_by.name) || t('timeline.system'), time: e.completed_at ? fmtWhen(e.completed_at) : '' })),
    e.note ? h('p.prewrap', e.note) : null,
    (e.data || []).length ? dl(e.data.map((d) => [d.label || tMaybe(`datakey.${d.name}`, d.name),
      shownValue(d)])) : null);
}
