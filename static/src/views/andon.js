// Quality: the andon board, pulling the andon (with a plain-words confirmation of the
// effect), live progress of containment and recall, batch traceability, resolve.
import { h, icon, replace, uid } from '../ui/dom.js';
import { t, tMaybe, fmtWhen, fmtNumber, getLocale } from '../i18n.js';
import { api, get, post } from '../session.js';
import { uuid } from '../core/http.js';
import { navigate } from '../router.js';
import { loading, emptyState, errorState, staleNotice, pageHeader, dl, listItems, statusChip } from '../ui/parts.js';
import { timeline } from '../ui/timeline.js';
import { openDialog } from '../ui/dialog.js';
import { toast } from '../ui/toast.js';
import { errorText, fieldErrors } from '../ui/errors.js';

const LIVE_MS = 5000;
const PROGRESS = ['contacted', 'picked_up', 'received', 'closed'];

const target = (a) => (a.scope === 'batch' ? t('andon.target_batch', { batch: a.batch_no || '' }) : t('andon.target_product', { sku: a.sku || '' }));
const count = (v) => (Array.isArray(v) ? v.length : Number(v) || 0);

function traceSearch() {
  const id = uid('trace');
  const input = h('input.input', { id, type: 'search', autocapitalize: 'characters', autocomplete: 'off', enterkeyhint: 'search' });
  const form = h('form.inline-form', { role: 'search', novalidate: true },
    h('div.field', h('label', { for: id }, t('trace.lookup')), h('div.input-row', input, h('button.btn.btn-secondary', { type: 'submit' }, t('trace.go')))));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = input.value.trim();
    if (v) navigate(`/trace/${encodeURIComponent(v)}`);
  });
  return form;
}

// ------------------------------------------------------------------ board
export function boardView(el) {
  const body = h('div');
  const pull = h('a.btn.btn-danger', { href: '#/andon/new' }, icon('andon'), h('span', t('andon.pull')));
  el.append(h('div.page.page-andon', pageHeader(t('andon.board_title'), { actions: pull }), traceSearch(), body));

  async function load() {
    try {
      const res = await api('GET', '/andon?per_page=100');
      const items = listItems(res.data);
      if (!el.isConnected) return;
      if (!items.length) {
        replace(body, emptyState(t('andon.empty')));
        return;
      }
      const active = items.filter((a) => a.status === 'active');
      const rest = items.filter((a) => a.status !== 'active');
      const card = (a) => h(`li.card${a.status === 'active' ? '.card-andon-active' : ''}`, h('a.card-link', { href: `#/andon/${a.id}` },
        h('div.card-top', statusChip(a.status, 'andon'), h('span.chip', t(`andon.action.${a.action}`))),
        h('h2.card-title', target(a)),
        a.reason ? h('p.card-step', a.reason) : null,
        h('p.muted', [a.created_at ? fmtWhen(a.created_at) : '', a.affected_orders !== undefined ? t('andon.affected', { n: count(a.affected_orders) }) : ''].filter(Boolean).join(' · '))));
      replace(body,
        staleNotice(res.cachedAt),
        active.length ? h('section.section', h('h2.section-title', t('andon.active'), h('span.count', ` (${active.length})`)), h('ul.cards', active.map(card))) : null,
        rest.length ? h('section.section', h('h2.section-title', t('andon.resolved')), h('ul.cards', rest.map(card))) : null);
    } catch (err) {
      replace(body, errorState(errorText(err), load));
    }
  }
  replace(body, loading());
  load();
  const timer = setInterval(() => document.visibilityState === 'visible' && load(), 15000);
  return () => clearInterval(timer);
}

// ------------------------------------------------------------------ pull
function effectText({ scope, key, action, name, trace, narrowed }) {
  const what = scope === 'batch' ? t('andon.effect.batch', { batch: key }) : t('andon.effect.product', { sku: key, name: name ? ` (${name})` : '' });
  const parts = [t('andon.effect.stop', { what })];
  if (action === 'pause') parts.push(t('andon.effect.pause'));
  else if (trace && trace.counts) {
    const n = trace.counts.delivered ?? trace.counts.orders;
    parts.push(narrowed ? t('andon.effect.recall_upto', { n }) : t('andon.effect.recall_n', { n }));
  } else parts.push(t('andon.effect.recall_all'));
  return parts.join(getLocale() === 'zh-CN' ? '' : ' ');
}

export function pullView(el) {
  const radios = (name, values, labelKey, checked) => values.map((v) => {
    const id = uid(name);
    const r = h('input', { type: 'radio', name, id, value: v });
    r.checked = v === checked;
    return h('label.choice', { for: id }, r, h('span', h('strong', t(`${labelKey}.${v}`)), h('span.choice-hint', t(`${labelKey}.${v}_hint`))));
  });
  const scopeName = uid('scope');
  const actionName = uid('action');
  const scopeSet = h('fieldset.field.choices', h('legend', t('andon.scope')), h('div.choice-list', radios(scopeName, ['batch', 'product'], 'andon.scope', 'batch')));
  const actionSet = h('fieldset.field.choices', h('legend', t('andon.action_label')), h('div.choice-list', radios(actionName, ['pause', 'recall'], 'andon.action', 'pause')));
  const keyId = uid('key');
  const keyLabel = h('label', { for: keyId });
  const keyInput = h('input.input', { id: keyId, type: 'text', autocomplete: 'off', autocapitalize: 'characters', required: true });
  const keyErr = h('p.field-error', { hidden: true });
  const lookupBtn = h('button.btn.btn-secondary', { type: 'button' }, t('andon.check'));
  const lookupBox = h('div.lookup', { 'aria-live': 'polite' });
  const reasonId = uid('reason');
  const reason = h('textarea.input', { id: reasonId, rows: 3, required: true, maxlength: 2000 });
  const reasonErr = h('p.field-error', { hidden: true });
  const mk = (type, label) => {
    const id = uid('flt');
    const input = h('input.input', { id, type, autocomplete: 'off', autocapitalize: 'none' });
    return { input, el: h('div.field', h('label', { for: id }, label), input) };
  };
  const wh = mk('text', t('andon.filter.warehouse'));
  const driver = mk('text', t('andon.filter.driver'));
  const from = mk('date', t('andon.filter.shipped_from'));
  const to = mk('date', t('andon.filter.shipped_to'));
  const formErr = h('p.form-error', { role: 'alert', hidden: true });
  const submit = h('button.btn.btn-danger.btn-block.btn-large', { type: 'submit' }, t('andon.pull'));
  const form = h('form.andon-form', { novalidate: true },
    scopeSet,
    h('div.field', keyLabel, h('div.input-row', keyInput, lookupBtn), keyErr),
    lookupBox,
    actionSet,
    h('div.field', h('label', { for: reasonId }, t('andon.reason')), reason, reasonErr),
    h('details.more', h('summary', t('andon.filters')), h('p.hint', t('andon.filters_hint')), h('div.filter-grid', wh.el, driver.el, from.el, to.el)),
    formErr,
    h('div.action-bar', submit));
  el.append(h('div.page.page-andon-pull', pageHeader(t('andon.pull_title'), { back: { href: '#/andon', label: t('nav.andon') } }), h('p.lead', t('andon.pull_intro')), form));

  let info = { key: null, scope: null, product: null, trace: null };
  const scope = () => form.querySelector(`input[name="${scopeName}"]:checked`).value;
  const action = () => form.querySelector(`input[name="${actionName}"]:checked`).value;
  const syncScope = () => {
    keyLabel.textContent = scope() === 'batch' ? t('andon.batch_no') : t('andon.sku');
    replace(lookupBox);
    info = { key: null, scope: null, product: null, trace: null };
  };
  form.querySelectorAll(`input[name="${scopeName}"]`).forEach((r) => r.addEventListener('change', syncScope));
  keyInput.addEventListener('input', () => {
    info.key = null;
    replace(lookupBox);
  });
  syncScope();

  async function lookup() {
    const key = keyInput.value.trim();
    if (!key) return null;
    if (info.key === key && info.scope === scope()) return info;
    replace(lookupBox, loading(t('andon.checking')));
    const next = { key, scope: scope(), product: null, trace: null };
    try {
      if (next.scope === 'batch') {
        next.trace = await get(`/batches/${encodeURIComponent(key)}/trace`);
        if (next.trace && next.trace.sku) next.product = await get(`/products/${encodeURIComponent(next.trace.sku)}`).catch(() => null);
      } else {
        next.product = await get(`/products/${encodeURIComponent(key)}`);
      }
    } catch (err) {
      replace(lookupBox, h('p.notice.notice-warn', icon('warn'), err.status === 404 ? t(next.scope === 'batch' ? 'andon.batch_unknown' : 'andon.sku_unknown') : errorText(err)));
      info = next;
      return next;
    }
    info = next;
    const p = next.product;
    const c = (next.trace && next.trace.counts) || null;
    replace(lookupBox, h('div.lookup-card',
      p ? h('p', h('strong', p.name || p.sku), ' · ', statusChip(p.sale_status, 'sale')) : null,
      p && p.reasons && p.reasons.length ? h('p.muted', t('andon.paused_because', { reasons: p.reasons.map((r) => (typeof r === 'string' ? tMaybe(`reason.${r}`, r) : r.reason || r.kind || '')).join(', ') })) : null,
      c ? h('p', t('andon.trace_counts', { orders: fmtNumber(c.orders), customers: fmtNumber(c.customers), delivered: fmtNumber(c.delivered) })) : null,
      next.trace ? h('p.muted', t('andon.trace_warehouses', { n: (next.trace.warehouses || []).length })) : null,
      next.scope === 'batch' ? h('a.link', { href: `#/trace/${encodeURIComponent(key)}` }, t('trace.open')) : null));
    return next;
  }
  lookupBtn.addEventListener('click', lookup);

  let idemKey = uuid();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    formErr.hidden = true;
    keyErr.hidden = !!keyInput.value.trim();
    keyErr.textContent = t('form.required');
    reasonErr.hidden = !!reason.value.trim();
    reasonErr.textContent = t('form.required');
    if (!keyInput.value.trim() || !reason.value.trim()) {
      (keyInput.value.trim() ? reason : keyInput).focus();
      return;
    }
    const found = await lookup();
    const filters = {};
    if (wh.input.value.trim()) filters.warehouse = wh.input.value.trim();
    if (driver.input.value.trim()) filters.driver = driver.input.value.trim();
    if (from.input.value) filters.shipped_from = new Date(`${from.input.value}T00:00:00`).toISOString();
    if (to.input.value) filters.shipped_to = new Date(`${to.input.value}T23:59:59`).toISOString();
    const narrowed = Object.keys(filters).length > 0;
    const key = keyInput.value.trim();
    const text = effectText({ scope: scope(), key, action: action(), name: found && found.product && found.product.name, trace: found && found.trace, narrowed });
    const ok = await openDialog({
      title: t('andon.confirm_title'),
      body: h('div', h('p.effect', text), narrowed ? h('p.muted', t('andon.confirm_filters')) : null, h('p.muted', t('andon.confirm_reason', { reason: reason.value.trim() }))),
      confirmLabel: t('andon.confirm_pull'),
      danger: true,
    });
    if (ok === null) return;
    const payload = { scope: scope(), action: action(), reason: reason.value.trim() };
    if (payload.scope === 'batch') payload.batch_no = key;
    else payload.sku = key;
    if (narrowed) payload.filters = filters;
    submit.disabled = true;
    try {
      const created = await post('/andon', payload, { key: idemKey });
      idemKey = uuid();
      toast(t('andon.pulled'), 'ok');
      navigate(`/andon/${created.id}`);
    } catch (err) {
      if (err.code === 'andon_active' && err.details && err.details.andon_id) {
        // Someone already pulled it (or a wider andon covers it): show that andon instead of a second one.
        idemKey = uuid();
        toast(t('err.andon_active'), 'warn');
        navigate(`/andon/${err.details.andon_id}`);
        return;
      }
      const fe = fieldErrors(err);
      formErr.textContent = [errorText(err), ...Object.values(fe)].join(' ');
      formErr.hidden = false;
      if (err.status && err.status < 500) idemKey = uuid();
    } finally {
      submit.disabled = false;
    }
  });
}

// ------------------------------------------------------------------ detail
export function detailView(el, params) {
  const id = params.id;
  const root = h('div.page.page-andon-detail');
  el.append(root);
  let andon = null;

  async function load() {
    try {
      const res = await api('GET', `/andon/${encodeURIComponent(id)}`);
      andon = res.data;
      if (el.isConnected && !document.querySelector('dialog[open]')) draw(res.cachedAt);
    } catch (err) {
      if (!andon) replace(root, pageHeader(t('andon.detail_title'), { back: { href: '#/andon', label: t('nav.andon') } }), errorState(errorText(err), load));
    }
  }

  function bar(name, value, total) {
    const pid = uid('pg');
    return h('div.progress-row',
      h('label', { for: pid }, t(`andon.progress.${name}`)),
      h('progress', { id: pid, max: String(Math.max(total, 1)), value: String(Math.min(value, Math.max(total, 1))) }),
      h('span.progress-num', `${fmtNumber(value)} / ${fmtNumber(total)}`));
  }

  function draw(cachedAt) {
    const a = andon;
    const total = count(a.affected_orders);
    const progress = a.progress || {};
    const recalls = Array.isArray(a.recall_work_orders) ? a.recall_work_orders : [];
    // The answer pages the recall work orders: count them all (recall_work_orders_total), not the page.
    const recallsTotal = Number.isFinite(a.recall_work_orders_total) ? a.recall_work_orders_total : recalls.length;
    const active = a.status === 'active';
    const resolveBtn = active ? h('button.btn.btn-primary.btn-block', {
      type: 'button',
      onclick: async () => {
        // Resolving asks what becomes of the open containment and recall work (§15): kept, or the unstarted cancelled.
        const noteId = uid('note');
        const reasonId = uid('reason');
        const note = h('textarea.input', { id: noteId, rows: 3, required: true, maxlength: 5000 });
        const reason = h('input.input', { id: reasonId, type: 'text', maxlength: 500, autocomplete: 'off' });
        const choice = (value, label) => {
          const cid = uid('ow');
          const input = h('input', { type: 'radio', name: 'open_work', id: cid, value });
          input.checked = value === 'keep';
          input.addEventListener('change', () => { reasonField.hidden = value !== 'cancel_unstarted'; });
          return h('label.choice', { for: cid }, input, h('span', label));
        };
        const reasonField = h('div.field', { hidden: true }, h('label', { for: reasonId }, t('andon.open_work_reason')), reason);
        const body = h('div',
          h('div.field', h('label', { for: noteId }, t('andon.resolve_note')), note, h('p.hint', t('andon.resolve_hint'))),
          h('fieldset.field.choices', h('legend', t('andon.open_work')),
            h('p.hint', t('andon.open_work_summary', { n: fmtNumber(recallsTotal) })),
            h('div.choice-list', choice('keep', t('andon.open_work_keep')), choice('cancel_unstarted', t('andon.open_work_cancel')))),
          reasonField);
        const picked = await openDialog({
          title: t('andon.resolve'), body, confirmLabel: t('andon.resolve'),
          collect: () => {
            const openWork = body.querySelector('input[name=open_work]:checked').value;
            return { note: note.value.trim(), open_work: openWork, reason: openWork === 'cancel_unstarted' ? reason.value.trim() : null };
          },
          validate: (v) => (!v.note ? t('form.required') : v.open_work === 'cancel_unstarted' && !v.reason ? t('form.required') : null),
        });
        if (!picked) return;
        try {
          const res = await post(`/andon/${id}/resolve`, picked, { key: uuid() });
          toast(res && res.open_work ? t('andon.open_work_done', res.open_work) : t('andon.resolved_ok'), 'ok', 8000);
          load();
        } catch (err) {
          toast(errorText(err), 'error');
        }
      },
    }, t('andon.resolve')) : null;
    const woLink = (w) => {
      const wid = typeof w === 'object' ? w.id : w;
      const label = typeof w === 'object' ? [w.number, w.order_no, w.status ? tMaybe(`wo.status.${w.status}`, w.status) : ''].filter(Boolean).join(' · ') : `#${w}`;
      return h('li', h('a.link', { href: `#/wo/${wid}` }, label || `#${wid}`));
    };
    replace(root,
      pageHeader(target(a), { back: { href: '#/andon', label: t('nav.andon') } }),
      staleNotice(cachedAt),
      h('div.card-top', statusChip(a.status, 'andon'), h('span.chip', t(`andon.action.${a.action}`)), active ? h('span.live', { 'aria-hidden': 'true' }, t('andon.live')) : null),
      h('section.section', dl([
        [t('andon.reason'), a.reason],
        [t('andon.pulled_at'), a.created_at ? fmtWhen(a.created_at) : null],
        [t('andon.pulled_by'), a.created_by && (a.created_by.name || a.created_by.login)],
        [t('andon.affected_label'), fmtNumber(total)],
        [t('andon.filters'), a.filters ? Object.entries(a.filters).filter(([, v]) => v).map(([k, v]) => `${t(`andon.filter.${k}`)}: ${k.startsWith('shipped') ? fmtWhen(v) : v}`).join('; ') : null],
      ])),
      h('section.section', { 'aria-labelledby': 'an-progress' }, h('h2#an-progress.section-title', t('andon.progress_title')),
        a.action === 'recall' ? h('div.progress-list', PROGRESS.map((p) => bar(p, Number(progress[p]) || 0, total))) : h('p.muted', t('andon.no_recall'))),
      h('section.section', h('h2.section-title', t('andon.containment')),
        a.containment_work_order_id ? h('a.link', { href: `#/wo/${a.containment_work_order_id}` }, t('andon.open_containment')) : h('p.muted', t('andon.containment_pending'))),
      a.action === 'recall' ? h('section.section', h('h2.section-title', t('andon.recalls'), h('span.count', ` (${fmtNumber(recallsTotal)})`)),
        recalls.length ? h('ul.link-list', recalls.slice(0, 200).map(woLink)) : h('p.muted', t('andon.recalls_pending')),
        recallsTotal > Math.min(recalls.length, 200) ? h('p.muted.shown-of', t('trace.truncated', { n: fmtNumber(Math.min(recalls.length, 200)), total: fmtNumber(recallsTotal) })) : null) : null,
      a.scope === 'batch' && a.batch_no ? h('p', h('a.link', { href: `#/trace/${encodeURIComponent(a.batch_no)}` }, t('trace.open'))) : null,
      h('section.section', h('h2.section-title', t('timeline.title')), timeline(a.timeline || [])),
      resolveBtn ? h('div.action-bar', resolveBtn) : null);
  }

  replace(root, pageHeader(t('andon.detail_title'), { back: { href: '#/andon', label: t('nav.andon') } }), loading());
  load();
  const timer = setInterval(() => {
    if (document.visibilityState === 'visible' && (!andon || andon.status === 'active')) load();
  }, LIVE_MS);
  return () => clearInterval(timer);
}

// ------------------------------------------------------------------ trace
export function traceView(el, params) {
  const batch = params.batch;
  const root = h('div.page.page-trace', pageHeader(t('trace.title_batch', { batch }), { back: { href: '#/andon', label: t('nav.andon') } }), loading());
  el.append(root);
  get(`/batches/${encodeURIComponent(batch)}/trace`).then((tr) => {
    const c = tr.counts || {};
    const lines = Array.isArray(tr.lines) ? tr.lines : [];
    // The trace pages its lines: count them all (lines_total), not the page.
    const linesTotal = Number.isFinite(tr.lines_total) ? tr.lines_total : lines.length;
    const shown = Math.min(lines.length, 300);
    const wh = Array.isArray(tr.warehouses) ? tr.warehouses : [];
    const pull = h('a.btn.btn-danger', { href: '#/andon/new' }, icon('andon'), h('span', t('andon.pull')));
    replace(root,
      pageHeader(t('trace.title_batch', { batch }), { back: { href: '#/andon', label: t('nav.andon') }, actions: pull }),
      tr.sku ? h('p', t('trace.sku', { sku: tr.sku })) : null,
      h('div.stat-grid', [['orders', c.orders], ['customers', c.customers], ['delivered', c.delivered]].map(([k, v]) =>
        h('div.stat', h('p.stat-value', fmtNumber(v)), h('p.stat-label', t(`trace.count.${k}`))))),
      h('section.section', h('h2.section-title', t('trace.warehouses')),
        wh.length ? h('ul.trace-list', wh.map((w) => h('li.trace-item',
          h('p', h('strong', w.name || w.code), w.name && w.code ? h('span.muted', ` · ${w.code}`) : null),
          dl([[t('trace.first_in'), w.first_in ? fmtWhen(w.first_in) : null], [t('trace.last_seen'), w.last_seen ? fmtWhen(w.last_seen) : null], [t('trace.on_hand'), fmtNumber(w.on_hand)]])))) : h('p.muted', t('trace.none'))),
      h('section.section', h('h2.section-title', t('trace.lines'), h('span.count', ` (${fmtNumber(linesTotal)})`)),
        lines.length ? h('ul.trace-list', lines.slice(0, 300).map((l) => h('li.trace-item',
          h('p', h('strong', l.order_no || ''), l.customer_ref ? h('span.muted', ` · ${l.customer_ref}`) : null),
          dl([
            [t('trace.qty'), l.qty !== undefined ? fmtNumber(l.qty) : null],
            [t('trace.warehouse'), l.warehouse],
            [t('trace.driver'), typeof l.driver === 'object' && l.driver ? l.driver.name || l.driver.login : l.driver],
            [t('trace.shipped_at'), l.shipped_at ? fmtWhen(l.shipped_at) : null],
            [t('trace.delivered_at'), l.delivered_at ? fmtWhen(l.delivered_at) : t('trace.not_delivered')],
          ])))) : h('p.muted', t('trace.none')),
        linesTotal > shown ? h('p.muted.shown-of', t('trace.truncated', { n: fmtNumber(shown), total: fmtNumber(linesTotal) })) : null));
  }).catch((err) => {
    replace(root, pageHeader(t('trace.title_batch', { batch }), { back: { href: '#/andon', label: t('nav.andon') } }),
      errorState(err.status === 404 ? t('andon.batch_unknown') : errorText(err), () => navigate(`/trace/${encodeURIComponent(batch)}`)));
  });
}
