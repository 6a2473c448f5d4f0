import { h, icon, replace } from '../ui/dom.js';
import { t, stepTitle } from '../i18n.js';
import { api } from '../session.js';
import { bus } from '../bus.js';
import { priorityBadge, countdown, loading, emptyState, errorState, staleNotice, modeLabel, isOverdue } from '../ui/parts.js';
import { pendingFor, onOutboxChange, counts } from '../outbox-client.js';
import { errorText } from '../ui/errors.js';
import { taskAbilities, claimTask, pendingChip } from './tasklib.js';
import { pushPrompt } from './pushprompt.js';

const POLL_MS = 20000;
const PAGE = 50;
const MAX_PAGE = 200; // the API's largest page; beyond it, a search narrows the list
let lastTab = null;

export default function inboxView(el) {
  let data = null;
  let cachedAt = null;
  let error = null;
  let tab = lastTab;
  let busy = false;
  let q = '';
  let sort = 'priority';
  let group = null; // an opened group of offers: {key, title}
  let limit = PAGE;
  let searchTimer = null;

  const heading = h('h1.page-title', { tabindex: '-1' }, t('inbox.title'));
  const status = h('div.inbox-status');
  const tabsEl = h('div.segmented', { role: 'tablist', 'aria-label': t('inbox.sections') });
  const listEl = h('div.inbox-list', { role: 'tabpanel' });
  const refreshBtn = h('button.btn.btn-ghost.btn-icon-text', { type: 'button', onclick: () => load(true) }, icon('sync'), h('span', t('common.refresh')));
  // Search (number, title, order, customer, batch, SKU) and order; what is overdue always comes first.
  const search = h('input.input', { type: 'search', id: 'inbox-q', placeholder: t('inbox.search'), autocomplete: 'off', enterkeyhint: 'search' });
  search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      q = search.value.trim();
      limit = PAGE;
      load(false);
    }, 300);
  });
  const sortSel = h('select.input', { id: 'inbox-sort', 'aria-label': t('inbox.sort') },
    ['priority', 'due', 'newest'].map((v) => h('option', { value: v }, t(`inbox.sort.${v}`))));
  sortSel.addEventListener('change', () => {
    sort = sortSel.value;
    load(false);
  });
  el.append(h('div.page.page-inbox',
    h('div.page-head', h('div.page-head-row', heading, refreshBtn)),
    pushPrompt(),
    h('div.inbox-tools', h('label.sr-only', { for: 'inbox-q' }, t('inbox.search')), search, sortSel),
    status,
    tabsEl,
    listEl));

  function lists() {
    const mine = (data && data.mine) || [];
    const pool = (data && data.pool) || [];
    // Optimistic view of queued actions: a claimed pool task shows under Mine at once;
    // completed or returned ones leave the lists.
    const movedToMine = pool.filter((task) => pendingFor(task.id).some((e) => e.kind === 'claim'));
    const gone = (task) => pendingFor(task.id).some((e) => e.kind === 'complete' || e.kind === 'return');
    return {
      mine: [...mine, ...movedToMine].filter((x) => !gone(x)),
      pool: pool.filter((x) => !movedToMine.includes(x) && !gone(x)),
    };
  }

  function card(task, section) {
    const wo = task.work_order || {};
    const pending = pendingFor(task.id);
    const ab = taskAbilities(task, pending);
    const overdue = task.overdue || isOverdue(task.due_at);
    const title = wo.title || t('task.untitled');
    const link = h('a.card-link', { href: `#/task/${task.id}` },
      h('div.card-top', priorityBadge(wo.priority), h('span.wo-number', wo.number || ''), countdown(task.due_at)),
      h('h2.card-title', title),
      h('p.card-step', stepTitle(task), task.instance_label ? ` · ${task.instance_label}` : '', h('span.muted', ` · ${modeLabel(task.mode)}`)),
      h('div.card-chips',
        pendingChip(pending),
        task.escalation_level > 0 ? h('span.chip.chip-escalated', t('task.escalated', { n: task.escalation_level })) : null,
        task.status === 'claimed' && section === 'mine' ? h('span.chip', t('task.status.claimed')) : null));
    const claimBtn = section === 'pool' && ab.canClaim
      ? h('button.btn.btn-primary.btn-block.btn-claim', {
        type: 'button',
        'aria-label': t('inbox.claim_named', { title }),
        onclick: async (e) => {
          const b = e.currentTarget;
          b.disabled = true;
          b.textContent = t('claim.busy');
          await claimTask(task);
          await load(false);
        },
      }, t('task.claim'))
      : null;
    return h(`li.card${overdue ? '.card-overdue' : ''}${task.work_order && task.work_order.priority === 'P1' ? '.card-urgent' : ''}`, { dataset: { taskId: task.id } }, link, claimBtn);
  }

  function draw() {
    const { mine, pool } = lists();
    if (!tab) tab = mine.length || !pool.length ? 'mine' : 'pool';
    lastTab = tab;
    const tabBtn = (id, label, n) => h('button.segment', {
      type: 'button',
      role: 'tab',
      id: `tab-${id}`,
      'aria-selected': String(tab === id),
      'aria-controls': 'inbox-panel',
      tabindex: tab === id ? '0' : '-1',
      onclick: () => {
        tab = id;
        draw();
        document.getElementById(`tab-${id}`)?.focus();
      },
      onkeydown: (e) => {
        if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
          tab = tab === 'mine' ? 'pool' : 'mine';
          draw();
          document.getElementById(`tab-${tab}`)?.focus();
        }
      },
    }, h('span', label), h('span.count', String(n)));
    const totals = (data && data.totals) || { mine: mine.length, pool: pool.length };
    replace(tabsEl, tabBtn('mine', t('inbox.mine'), totals.mine), tabBtn('pool', t('inbox.pool'), totals.pool));
    listEl.id = 'inbox-panel';
    listEl.setAttribute('aria-labelledby', `tab-${tab}`);

    const { pending, failed } = counts();
    replace(status,
      cachedAt ? staleNotice(cachedAt) : null,
      error && data ? h('p.stale', { role: 'status' }, icon('cloudoff'), errorText(error)) : null,
      pending || failed
        ? h('a.outbox-note', { href: '#/outbox' }, icon(failed ? 'warn' : 'sync'), failed ? t('outbox.note_failed', { n: failed }) : t('outbox.note_pending', { n: pending }))
        : null);

    if (!data) {
      replace(listEl, error ? errorState(errorText(error), () => load(true)) : loading());
      return;
    }
    const items = tab === 'mine' ? mine : pool;
    const groups = tab === 'pool' && !group ? (data.groups || []) : [];
    const shown = tab === 'mine' ? (data.totals || {}).mine || 0 : data.pool_shown ?? pool.length;
    const more = items.length < shown
      ? (limit < MAX_PAGE
        ? h('button.btn.btn-secondary.btn-block', { type: 'button', onclick: () => { limit = Math.min(limit + PAGE, MAX_PAGE); load(false); } },
          t('inbox.more', { shown: items.length, total: shown }))
        : h('p.hint', t('inbox.refine', { shown: items.length, total: shown })))
      : null;
    const opened = group ? h('div.group-head',
      h('button.btn.btn-ghost.btn-icon-text', { type: 'button', onclick: () => { group = null; limit = PAGE; load(false); } }, icon('back'), h('span', t('inbox.back_to_pool'))),
      h('h2.section-title', t('inbox.group_title', { title: group.title, n: shown }))) : null;
    if (!items.length && !groups.length) {
      replace(listEl, opened, emptyState(q ? t('inbox.no_results', { q }) : tab === 'mine' ? t('inbox.empty_mine') : t('inbox.empty_pool'),
        tab === 'mine' && !q && pool.length
          ? h('button.btn.btn-secondary', { type: 'button', onclick: () => { tab = 'pool'; draw(); } }, t('inbox.see_pool', { n: pool.length }))
          : null));
      return;
    }
    replace(listEl, opened,
      groups.length ? h('ul.cards.inbox-groups', { 'aria-label': t('inbox.groups') }, groups.map((g) => h(`li.card.card-group${g.overdue ? '.card-overdue' : ''}`,
        h('button.card-link.group-link', { type: 'button', onclick: () => { group = { key: g.key, title: g.title }; limit = PAGE; load(false); } },
          h('div.card-top', h('span.chip', t('inbox.group_count', { n: g.count })), g.soonest_due ? countdown(g.soonest_due) : null),
          h('h2.card-title', g.title),
          h('p.card-step.muted', g.overdue ? t('inbox.group_overdue', { n: g.overdue }) : t('inbox.group_open')))))) : null,
      items.length ? h('ul.cards', items.map((task) => card(task, tab))) : null,
      more);
  }

  async function load(manual) {
    if (busy) return;
    busy = true;
    if (manual) refreshBtn.disabled = true;
    try {
      // The plain inbox keeps its plain address, so the offline copy of it is the one the service worker kept.
      const params = new URLSearchParams();
      if (q) params.set('q', q);
      if (sort !== 'priority') params.set('sort', sort);
      if (group) params.set('group', group.key);
      if (limit !== PAGE) params.set('per_page', String(limit));
      const res = await api('GET', `/tasks/inbox${params.toString() ? `?${params}` : ''}`);
      data = res.data || { mine: [], pool: [] };
      cachedAt = res.cachedAt;
      error = null;
    } catch (err) {
      error = err;
    } finally {
      busy = false;
      refreshBtn.disabled = false;
    }
    if (el.isConnected) draw();
  }

  draw();
  load(false);
  const timer = setInterval(() => {
    if (document.visibilityState === 'visible') load(false);
  }, POLL_MS);
  const onVis = () => {
    if (document.visibilityState === 'visible') load(false);
  };
  document.addEventListener('visibilitychange', onVis);
  const offRefresh = bus.on('inbox:refresh', () => load(false));
  const offOutbox = onOutboxChange(() => data && draw());
  return () => {
    clearTimeout(searchTimer);
    clearInterval(timer);
    document.removeEventListener('visibilitychange', onVis);
    offRefresh();
    offOutbox();
  };
}

