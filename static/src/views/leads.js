// Customer-service leads: work-order list, detail (who holds each step, what is late),
// escalate, cancel, evaluate; and creating a work order from a template.
import { h, icon, replace, uid } from '../ui/dom.js';
import { t, tMaybe, fmtWhen, stepTitle } from '../i18n.js';
import { attachmentTile, attachmentTiles } from '../ui/attachments.js';
import { capturedValue } from '../ui/captured.js';
import { api, get, post, isLead } from '../session.js';
import { uuid } from '../core/http.js';
import { LIMITS } from '../core/limits.js';
import { navigate } from '../router.js';
import { priorityBadge, statusChip, countdown, loading, emptyState, errorState, staleNotice, pageHeader, dl, listItems, modeLabel, sourceLabel, isOverdue } from '../ui/parts.js';
import { renderFields } from '../ui/fields.js';
import { cascade, treeFromPaths } from '../ui/cascade.js';
import { timeline, routeReason } from '../ui/timeline.js';
import { openDialog, promptDialog } from '../ui/dialog.js';
import { toast } from '../ui/toast.js';
import { errorText, fieldErrors } from '../ui/errors.js';
import { workOrderRefRows } from './tasklib.js';

const WO_STATUSES = ['open', 'in_progress', 'resolved', 'cancelled'];
const PRIORITIES = ['P1', 'P2', 'P3', 'P4'];
const MANUAL_SOURCES = ['cs_desk', 'phone', 'online', 'app', 'qr'];
const PER_PAGE = 30;
const POLL_MS = 20000;

let templatesCache = null;
async function templates() {
  if (!templatesCache) templatesCache = get('/templates').then(listItems).catch((e) => { templatesCache = null; throw e; });
  return templatesCache;
}
const templateKey = (tpl) => (tpl && typeof tpl === 'object' ? tpl.key : tpl);

function templateName(wo, tpls) {
  const key = templateKey(wo.template);
  if (wo.template && typeof wo.template === 'object' && wo.template.name) return wo.template.name;
  const found = (tpls || []).find((x) => x.key === key);
  return found ? found.name : key || '';
}

function selectField(label, options, value, { id = uid('sel'), anyLabel } = {}) {
  const sel = h('select.input', { id },
    anyLabel ? h('option', { value: '' }, anyLabel) : null,
    options.map(([v, l]) => h('option', { value: v }, l)));
  sel.value = value || '';
  return { el: h('div.field', h('label', { for: id }, label), sel), sel };
}

// ------------------------------------------------------------------ list
export function listView(el, params, query) {
  const filters = { status: query.get('status') || '', priority: query.get('priority') || '', template: query.get('template') || '', q: query.get('q') || '' };
  let page = 1;
  let items = [];
  let total = 0;
  let tpls = [];
  const body = h('div.wo-list-body');
  const more = h('button.btn.btn-secondary.btn-block', { type: 'button', hidden: true }, t('common.load_more'));
  const newBtn = h('a.btn.btn-primary', { href: '#/new' }, icon('plus'), h('span', t('wo.new')));
  const status = selectField(t('wo.filter.status'), WO_STATUSES.map((s) => [s, t(`wo.status.${s}`)]), filters.status, { anyLabel: t('wo.filter.any') });
  const prio = selectField(t('wo.filter.priority'), PRIORITIES.map((p) => [p, `${p} · ${t(`priority.${p}`)}`]), filters.priority, { anyLabel: t('wo.filter.any') });
  const tpl = selectField(t('wo.filter.template'), [], filters.template, { anyLabel: t('wo.filter.any') });
  const qId = uid('q');
  const q = h('input.input', { id: qId, type: 'search', enterkeyhint: 'search', autocomplete: 'off' });
  q.value = filters.q;
  const filterForm = h('form.filters', { role: 'search', 'aria-label': t('wo.filter.label'), novalidate: true },
    h('div.field.field-search', h('label', { for: qId }, t('wo.filter.search')), q),
    h('div.filter-grid', status.el, prio.el, tpl.el));
  const teamBtn = h('a.btn.btn-secondary', { href: '#/team' }, icon('user'), h('span', t('team.open_board')));
  el.append(h('div.page.page-wo-list', pageHeader(t('wo.list_title'), { actions: h('div.head-actions', teamBtn, newBtn) }), filterForm, h('p.muted.result-count', { role: 'status' }), body, more));
  const countEl = el.querySelector('.result-count');

  templates().then((list) => {
    tpls = list;
    tpl.sel.append(...list.map((x) => h('option', { value: x.key }, x.name)));
    tpl.sel.value = filters.template;
    if (items.length) draw();
  }).catch(() => {});

  const syncHash = () => {
    const qs = new URLSearchParams(Object.entries(filters).filter(([, v]) => v));
    history.replaceState(null, '', `#/wo${qs.toString() ? `?${qs}` : ''}`);
  };

  function row(wo) {
    const overdue = wo.overdue || (isOverdue(wo.due_at) && !['resolved', 'cancelled'].includes(wo.status));
    return h('li.card', h('a.card-link', { href: `#/wo/${wo.id}` },
      h('div.card-top', priorityBadge(wo.priority), h('span.wo-number', wo.number || ''), statusChip(wo.status, 'wo')),
      h('h2.card-title', wo.title || ''),
      h('p.card-step.muted', [templateName(wo, tpls), sourceLabel(wo.source), wo.created_at ? fmtWhen(wo.created_at) : ''].filter(Boolean).join(' · ')),
      h('div.card-chips', overdue ? h('span.chip.chip-overdue', t('wo.overdue')) : null,
        wo.due_at && !['resolved', 'cancelled'].includes(wo.status) ? countdown(wo.due_at) : null)));
  }

  function draw(cachedAt) {
    countEl.textContent = t('wo.count', { n: total });
    more.hidden = items.length >= total;
    if (!items.length) {
      replace(body, staleNotice(cachedAt), emptyState(t('wo.empty')));
      return;
    }
    replace(body, staleNotice(cachedAt), h('ul.cards', items.map(row)));
  }

  async function load(reset) {
    if (reset) {
      page = 1;
      items = [];
      replace(body, loading());
    }
    const qs = new URLSearchParams(Object.entries({ ...filters, page: String(page), per_page: String(PER_PAGE) }).filter(([, v]) => v));
    try {
      const res = await api('GET', `/work-orders?${qs}`);
      const list = listItems(res.data);
      items = reset ? list : items.concat(list);
      total = res.data && typeof res.data.total === 'number' ? res.data.total : items.length;
      draw(res.cachedAt);
    } catch (err) {
      replace(body, errorState(errorText(err), () => load(true)));
    }
  }

  const onFilter = () => {
    filters.status = status.sel.value;
    filters.priority = prio.sel.value;
    filters.template = tpl.sel.value;
    filters.q = q.value.trim();
    syncHash();
    load(true);
  };
  [status.sel, prio.sel, tpl.sel].forEach((s) => s.addEventListener('change', onFilter));
  filterForm.addEventListener('submit', (e) => {
    e.preventDefault();
    onFilter();
  });
  let debounce;
  q.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(onFilter, 400);
  });
  more.addEventListener('click', () => {
    page += 1;
    load(false);
  });
  load(true);
  return () => clearTimeout(debounce);
}

// ------------------------------------------------------------------ detail
const personName = (p) => (p && typeof p === 'object' ? p.name || p.login || t('common.user_n', { id: p.id }) : t('common.user_n', { id: p }));

function stepCard(task) {
  const done = task.status === 'completed';
  const late = !done && task.status !== 'cancelled' && (task.overdue || isOverdue(task.due_at));
  const cands = task.candidate_people || task.candidates || [];
  let holder;
  if (task.assignee) holder = t('wo.step.held_by', { name: personName(task.assignee) });
  else if (task.status === 'claimed' && task.assignee_id) holder = t('wo.step.held_by', { name: personName(task.assignee_id) });
  else if (task.status === 'open') {
    const named = cands.filter((c) => c && typeof c === 'object');
    holder = !cands.length
      ? t('wo.step.no_candidates')
      : named.length
        ? t('wo.step.waiting_for', { names: named.map(personName).slice(0, 4).join(', '), n: cands.length })
        : t('wo.step.waiting_count', { n: cands.length });
  }
  return h(`li.step${late ? '.step-late' : ''}${done ? '.step-done' : ''}`,
    h('div.step-head', h('strong', stepTitle(task), task.instance_label ? h('span.step-instance', ` · ${task.instance_label}`) : null),
      statusChip(task.status)),
    h('p.muted', modeLabel(task.mode)),
    holder ? h('p', holder) : null,
    done && task.outcome ? h('p', t('wo.step.outcome', { outcome: tMaybe(`outcome.${task.outcome}`, task.outcome) })) : null,
    done && task.completed_at ? h('p.muted', t('wo.step.completed_at', { time: fmtWhen(task.completed_at) })) : null,
    !done && task.status !== 'cancelled' ? h('div.card-chips', countdown(task.due_at), late ? h('span.chip.chip-overdue', t('wo.step.late')) : null,
      task.escalation_level > 0 ? h('span.chip.chip-escalated', t('task.escalated', { n: task.escalation_level })) : null) : null,
    h('a.link', { href: `#/task/${task.id}` }, t('wo.step.open_task')));
}

async function evaluateDialog(existing) {
  const rName = uid('res');
  const sName = uid('score');
  const resolvedRadios = [true, false].map((v) => {
    const id = uid('r');
    const r = h('input', { type: 'radio', name: rName, id, value: String(v) });
    if (existing && existing.resolved === v) r.checked = true;
    return h('label.choice', { for: id }, r, h('span', v ? t('eval.resolved_yes') : t('eval.resolved_no')));
  });
  const scoreRadios = [1, 2, 3, 4].map((n) => {
    const id = uid('s');
    const r = h('input', { type: 'radio', name: sName, id, value: String(n) });
    if (existing && Number(existing.score) === n) r.checked = true;
    return h('label.choice', { for: id }, r, h('span', h('strong', String(n)), ` · ${t(`score.${n}`)}`));
  });
  const noteId = uid('note');
  const note = h('textarea.input', { id: noteId, rows: 3, maxlength: 2000 });
  note.value = (existing && existing.note) || '';
  const body = h('div',
    h('fieldset.field.choices', h('legend', t('eval.customer_question')), h('div.choice-list.choice-row', resolvedRadios)),
    h('fieldset.field.choices', h('legend', t('eval.score')), h('div.choice-list', scoreRadios)),
    h('div.field', h('label', { for: noteId }, t('eval.note')), note));
  return openDialog({
    title: t('eval.title'),
    body,
    confirmLabel: t('eval.save'),
    collect: () => {
      const r = body.querySelector(`input[name="${rName}"]:checked`);
      const s = body.querySelector(`input[name="${sName}"]:checked`);
      return { resolved: r ? r.value === 'true' : null, score: s ? Number(s.value) : null, note: note.value.trim() };
    },
    validate: (v) => (v.resolved === null ? t('eval.need_resolved') : v.score === null ? t('eval.need_score') : null),
  });
}

export function detailView(el, params) {
  const id = params.id;
  let wo = null;
  const root = h('div.page.page-wo');
  el.append(root);

  async function act(path, body, okKey) {
    try {
      await post(`/work-orders/${id}/${path}`, body, { key: uuid() });
      toast(t(okKey), 'ok');
      load();
    } catch (err) {
      toast(errorText(err), 'error');
    }
  }

  async function load() {
    try {
      const res = await api('GET', `/work-orders/${encodeURIComponent(id)}`);
      wo = res.data;
      let tpls = [];
      try {
        tpls = await templates();
      } catch {
        /* names fall back to keys */
      }
      if (el.isConnected) draw(res.cachedAt, tpls);
    } catch (err) {
      if (!wo) replace(root, pageHeader(t('wo.title'), { back: { href: '#/wo', label: t('nav.orders') } }), errorState(errorText(err), load));
    }
  }

  function draw(cachedAt, tpls) {
    const open = !['resolved', 'cancelled'].includes(wo.status);
    const lead = isLead();
    const actions = [];
    if (lead && open) {
      actions.push(h('button.btn.btn-secondary', {
        type: 'button',
        onclick: async () => {
          const reason = await promptDialog(t('wo.escalate'), t('wo.escalate_reason'), { multiline: true, confirmLabel: t('wo.escalate'), hint: t('wo.escalate_hint') });
          if (reason) act('escalate', { reason }, 'wo.escalated');
        },
      }, t('wo.escalate')));
    }
    // Only a resolved work order is evaluated (the API answers 409 not_resolved otherwise).
    if (lead && wo.status === 'resolved') {
      actions.push(h('button.btn.btn-secondary', {
        type: 'button',
        onclick: async () => {
          const v = await evaluateDialog(wo.evaluation);
          if (v) act('evaluation', v, 'eval.saved');
        },
      }, wo.evaluation ? t('eval.edit') : t('eval.title')));
    }
    if (lead && open) {
      actions.push(h('button.btn.btn-ghost.btn-danger-text', {
        type: 'button',
        onclick: async () => {
          const reason = await promptDialog(t('wo.cancel'), t('wo.cancel_reason'), { multiline: true, danger: true, confirmLabel: t('wo.cancel_confirm') });
          if (reason) act('cancel', { reason }, 'wo.cancelled');
        },
      }, t('wo.cancel')));
    }
    const tasks = wo.tasks || [];
    const late = tasks.filter((x) => x.status !== 'completed' && x.status !== 'cancelled' && isOverdue(x.due_at));
    const ev = wo.evaluation;
    const data = wo.data && typeof wo.data === 'object' ? Object.entries(wo.data) : [];
    const tpl = (tpls || []).find((x) => x.key === templateKey(wo.template));
    // A form's own label; else the words for what the system itself puts in a work order's data (an andon's
    // batch, a recall's order); else the key.
    const fieldLabel = (k) => ((tpl && (tpl.form || []).find((f) => f.name === k)) || {}).label || tMaybe(`datakey.${k}`, k);
    // Photos and files: a value of an attachment, signature or photos field is an attachment's id (or several); show
    // the photos, not the numbers. A barcode reads as its code, a position as coordinates with a map link.
    const files = Object.fromEntries((wo.attachments || []).map((a) => [a.id, a]));
    const types = new Map();
    for (const f of [...((tpl && tpl.form) || []), ...((tpl && tpl.steps) || []).flatMap((st) => st.form || [])]) {
      if (!types.has(f.name)) types.set(f.name, f.type);
    }
    const dataVal = (k, v) => {
      const type = types.get(k);
      if (type === 'attachment' && files[v]) return attachmentTile(files[v]);
      const value = type === 'photos' && Array.isArray(v) ? v.map((id) => files[id]).filter(Boolean) : type === 'signature' ? files[v] : v;
      return capturedValue({ type, value }) || fmtVal(v);
    };
    const fmtVal = (v) => {
      if (typeof v === 'boolean') return v ? t('common.yes') : t('common.no');
      if (Array.isArray(v)) return v.map(fmtVal).join(', ');
      if (v && typeof v === 'object') return String(v.label || v.name || v.code || v.login || v.id || JSON.stringify(v));
      return String(v);
    };

    const cid = uid('c');
    const comment = h('textarea.input', { id: cid, rows: 2, maxlength: 4000 });
    const commentForm = h('form.comment-form', { novalidate: true }, h('div.field', h('label', { for: cid }, t('comment.label')), comment),
      h('button.btn.btn-secondary', { type: 'submit' }, t('comment.send')));
    commentForm.addEventListener('submit', (e) => {
      e.preventDefault();
      const body = comment.value.trim();
      if (body) act('comments', { body }, 'comment.done');
    });

    replace(root,
      pageHeader(wo.title || t('wo.title'), { back: { href: '#/wo', label: t('nav.orders') } }),
      staleNotice(cachedAt),
      h('div.card-top', priorityBadge(wo.priority), h('span.wo-number', wo.number || ''), statusChip(wo.status, 'wo'),
        wo.overdue || late.length ? h('span.chip.chip-overdue', t('wo.overdue')) : null),
      actions.length ? h('div.button-row', actions) : null,
      late.length ? h('p.notice.notice-warn', { role: 'status' }, icon('warn'), t('wo.late_steps', { n: late.length, steps: late.map(stepTitle).join(', ') })) : null,
      h('section.section', { 'aria-labelledby': 'wo-steps' }, h('h2#wo-steps.section-title', t('wo.steps')),
        tasks.length ? h('ul.steps', tasks.map(stepCard)) : h('p.muted', t('wo.no_steps'))),
      routeSection(wo.steps || []),
      wo.description ? h('section.section', h('h2.section-title', t('task.description')), h('p.prewrap', wo.description)) : null,
      h('section.section', h('h2.section-title', t('wo.details')), dl([
        [t('wo.template'), templateName(wo, tpls)],
        [t('wo.source'), sourceLabel(wo.source)],
        [t('wo.created_at'), wo.created_at ? fmtWhen(wo.created_at) : null],
        [t('wo.due_at'), wo.due_at ? fmtWhen(wo.due_at) : null],
        ...workOrderRefRows(wo),
        [t('wo.tags'), Array.isArray(wo.tags) ? wo.tags.join(', ') : wo.tags],
        ...data.map(([k, v]) => [fieldLabel(k), dataVal(k, v)]),
      ])),
      (wo.attachments || []).length ? h('section.section', { 'aria-labelledby': 'wo-files' },
        h('h2#wo-files.section-title', t('attach.title'), h('span.count', ` (${wo.attachments.length})`)), attachmentTiles(wo.attachments)) : null,
      ev ? h('section.section', h('h2.section-title', t('eval.heading')), dl([
        [t('eval.customer_question'), ev.resolved ? t('eval.resolved_yes') : t('eval.resolved_no')],
        [t('eval.score'), ev.score ? `${ev.score} · ${t(`score.${ev.score}`)}` : null],
        [t('eval.note'), ev.note],
      ])) : null,
      h('section.section', h('h2.section-title', t('timeline.title')),
        timeline(wo.timeline || [], [], { stepTitles: Object.fromEntries((wo.steps || []).map((s) => [s.key, s.title])) })),
      h('section.section', h('h2.section-title', t('comment.title')), commentForm));
  }

  replace(root, pageHeader(t('wo.title'), { back: { href: '#/wo', label: t('nav.orders') } }), loading());
  load();
  const timer = setInterval(() => {
    if (document.visibilityState === 'visible' && !document.querySelector('dialog[open]') && !root.contains(document.activeElement?.closest('form'))) load();
  }, POLL_MS);
  return () => clearInterval(timer);
}

// ------------------------------------------------------------------ new
export function newView(el) {
  const root = h('div.page.page-new', pageHeader(t('new.title'), { back: { href: '#/wo', label: t('nav.orders') } }), loading());
  el.append(root);
  let idemKey = uuid();

  Promise.all([templates(), get('/classifications').catch(() => ({ business: [], problem: [] }))]).then(([tpls, cls]) => {
    if (!el.isConnected) return;
    build(tpls, cls || {});
  }).catch((err) => {
    replace(root, pageHeader(t('new.title'), { back: { href: '#/wo', label: t('nav.orders') } }), errorState(errorText(err), () => navigate('/new')));
  });

  function build(tpls, cls) {
    const errs = {};
    const field = (name, label, control, hint) => {
      errs[name] = h('p.field-error', { hidden: true });
      return h('div.field', h('label', { for: control.id }, label), control, hint ? h('p.hint', hint) : null, errs[name]);
    };
    const tplSel = h('select.input', { id: uid('tpl'), required: true },
      h('option', { value: '' }, t('form.choose')), tpls.map((x) => h('option', { value: x.key }, x.name)));
    const title = h('input.input', { id: uid('title'), type: 'text', required: true, maxlength: LIMITS.workOrderTitle, autocomplete: 'off' });
    const desc = h('textarea.input', { id: uid('desc'), rows: 4, maxlength: LIMITS.workOrderDescription });
    const prio = h('select.input', { id: uid('prio') }, PRIORITIES.map((p) => h('option', { value: p }, `${p} · ${t(`priority.${p}`)}`)));
    prio.value = 'P3';
    const source = h('select.input', { id: uid('src') }, MANUAL_SOURCES.map((s) => h('option', { value: s }, sourceLabel(s))));
    // Without a classification tree from the server, offer the templates' own defaults.
    const tree = (kind) => (cls[kind] && cls[kind].length ? cls[kind] : treeFromPaths(tpls.map((x) => x.classification && x.classification[kind]).filter(Boolean)));
    const business = cascade(tree('business'), [t('class.business.1'), t('class.business.2'), t('class.business.3')], t('class.business'));
    const problem = cascade(tree('problem'), [t('class.problem.1'), t('class.problem.2'), t('class.problem.3')], t('class.problem'));
    const text = (name) => h('input.input', { id: uid(name), type: 'text', autocomplete: 'off', autocapitalize: 'none', maxlength: 120 });
    const sku = text('sku');
    const tags = text('tags');
    const orderNo = text('order');
    const customer = text('cust');
    const batch = text('batch');
    const flow = h('div.flow-preview', { 'aria-live': 'polite' });
    const tplFieldsBox = h('div');
    let tplFields = null;

    const onTemplate = () => {
      const tpl = tpls.find((x) => x.key === tplSel.value);
      tplFields = tpl ? renderFields(tpl.form || []) : null;
      replace(tplFieldsBox, tplFields && tplFields.count ? h('fieldset.field', h('legend', t('new.template_fields')), tplFields.el) : null);
      if (tpl && tpl.priority) prio.value = tpl.priority;
      if (tpl && tpl.classification) {
        if (tpl.classification.business && !business.value().length) business.set(tpl.classification.business);
        if (tpl.classification.problem && !problem.value().length) problem.set(tpl.classification.problem);
      }
      replace(flow, tpl && tpl.steps && tpl.steps.length
        ? [h('p.muted', t('new.flow')), h('ol.flow-steps', tpl.steps.map((s) => h('li', h('strong', s.title || s.key), ` · ${modeLabel(s.mode)}`,
          s.after && s.after.length ? h('span.muted', ` · ${t('new.after', { steps: s.after.map((k) => (tpl.steps.find((x) => x.key === k) || {}).title || k).join(', ') })}`) : null)))]
        : null);
    };
    tplSel.addEventListener('change', onTemplate);

    const formErr = h('p.form-error', { role: 'alert', hidden: true });
    const submit = h('button.btn.btn-primary.btn-block.btn-large', { type: 'submit' }, t('new.submit'));
    const form = h('form.new-form', { novalidate: true },
      field('template', t('new.template'), tplSel),
      flow,
      field('title', t('new.wo_title'), title),
      field('description', t('task.description'), desc),
      h('div.filter-grid', field('priority', t('wo.filter.priority'), prio), field('source', t('wo.source'), source)),
      business.el,
      problem.el,
      h('fieldset.field', h('legend', t('new.refs')),
        field('order_no', t('wo.order_no'), orderNo),
        field('customer_ref', t('wo.customer_ref'), customer),
        field('product_sku', t('wo.product_sku'), sku),
        field('batch_no', t('wo.batch_no'), batch),
        field('tags', t('wo.tags'), tags, t('new.tags_hint'))),
      tplFieldsBox,
      formErr,
      h('div.action-bar', submit));

    const showErr = (name, msg) => {
      if (errs[name]) {
        errs[name].textContent = msg || '';
        errs[name].hidden = !msg;
      }
    };
    // A message goes as soon as the person changes what it was about, not at the next submit.
    const clearNear = (e) => {
      formErr.hidden = true;
      const box = e.target && e.target.closest ? e.target.closest('.field') : null;
      const msg = box && box.querySelector(':scope > .field-error');
      if (msg) {
        msg.textContent = '';
        msg.hidden = true;
      }
    };
    form.addEventListener('input', clearNear);
    form.addEventListener('change', clearNear);

    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      Object.keys(errs).forEach((k) => showErr(k, ''));
      formErr.hidden = true;
      let bad = false;
      if (!tplSel.value) {
        showErr('template', t('form.required'));
        bad = true;
      }
      if (!title.value.trim()) {
        showErr('title', t('form.required'));
        bad = true;
      }
      const fieldErrs = tplFields ? tplFields.validate() : {};
      if (bad || Object.keys(fieldErrs).length) {
        formErr.textContent = t('form.fix_errors');
        formErr.hidden = false;
        (form.querySelector('.field-error:not([hidden])')?.closest('.field')?.querySelector('input,select,textarea') || tplSel).focus();
        return;
      }
      const opt = (v) => v.value.trim() || undefined;
      const payload = {
        template: tplSel.value,
        title: title.value.trim(),
        description: desc.value.trim(),
        priority: prio.value,
        source: source.value,
        business: business.value(),
        problem: problem.value(),
        product_sku: opt(sku),
        tags: tags.value.split(/[,，;；]/).map((x) => x.trim()).filter(Boolean),
        order_no: opt(orderNo),
        customer_ref: opt(customer),
        batch_no: opt(batch),
        data: tplFields ? tplFields.collect() : {},
      };
      submit.disabled = true;
      submit.textContent = t('common.sending');
      try {
        const created = await post('/work-orders', payload, { key: idemKey });
        idemKey = uuid();
        toast(t('new.created', { number: created.number || '' }), 'ok');
        navigate(`/wo/${created.id}`);
      } catch (err) {
        const fe = fieldErrors(err);
        const dataErrs = {};
        for (const [k, v] of Object.entries(fe)) {
          if (k.startsWith('data.')) dataErrs[k.slice(5)] = v;
          else if (k === 'business') business.setError(v);
          else if (k === 'problem') problem.setError(v);
          else showErr(k, v);
        }
        if (tplFields) tplFields.setErrors(dataErrs);
        formErr.textContent = errorText(err);
        formErr.hidden = false;
        // The server's word may be below the fold: bring the first field it names, or the message, into view.
        const first = form.querySelector('.field-error:not([hidden])');
        (first ? first.closest('.field') || first : formErr).scrollIntoView({ block: 'center', behavior: 'smooth' });
        if (err.status && err.status < 500) idemKey = uuid(); // a corrected form is a new request
      } finally {
        submit.disabled = false;
        submit.textContent = t('new.submit');
      }
    });
    replace(root, pageHeader(t('new.title'), { back: { href: '#/wo', label: t('nav.orders') } }), form);
    if (tpls.length === 1) {
      tplSel.value = tpls[0].key;
      onTemplate();
    }
  }
}

/** The route of a branching flow: every step taken, skipped or not yet reached, and why (docs/design.md §11). */
// The steps: taken, skipped (with why) and not yet reached; a running step says when it is due and why then.
function routeSection(steps) {
  if (steps.length < 2 && !steps.some((s) => s.reason || s.due_at)) return null;
  return h('section.section', { 'aria-labelledby': 'wo-route' }, h('h2#wo-route.section-title', t('wo.route')),
    h('ol.route', steps.map((s) => h(`li.route-step.route-${s.status}`,
      h('span.route-title', s.instance ? `${s.title || s.key} · ${s.instance}` : (s.title || s.key)),
      h(`span.chip.chip-${s.status}`, tMaybe(`route.status.${s.status}`, s.status)),
      s.reason ? h('span.route-why', routeReason(s.reason)) : null,
      s.due_at ? h('span.route-due', `${t('wo.due_at')} ${fmtWhen(s.due_at)}`) : null,
      s.due_explained ? h('span.route-why.due-explained', s.due_explained) : null))));
}
