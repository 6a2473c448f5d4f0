// Baton PWA entry: app shell, routes, session bootstrap, service worker, live refresh.
import { t, setLocale, browserLocale, normalizeLocale, onLocaleChange, getLocale } from './i18n.js';
import { route, start, setGuard, setAfterRender, navigate, render, parseHash } from './router.js';
import * as session from './session.js';
import { kvGet, kvSet } from './core/store.js';
import { h, icon, replace } from './ui/dom.js';
import { toast } from './ui/toast.js';
import { startOutbox, onOutboxChange, counts } from './outbox-client.js';
import { pushState, syncSubscription } from './push.js';
import { bus } from './bus.js';
import { startLive } from './live.js';
import signinView from './views/signin.js';
import inboxView from './views/inbox.js';
import taskView from './views/task.js';
import outboxView from './views/outbox.js';
import settingsView from './views/settings.js';
import notificationsView from './views/notifications.js';

const lazyLeads = () => import('./views/leads.js');
const lazyAndon = () => import('./views/andon.js');
const lazyDashboard = () => import('./views/dashboard.js');
const lazyTeam = () => import('./views/team.js');
const lazyAdmin = () => import('./views/admin.js');
const lazyQr = () => import('./views/qr.js');
const lazyQrConsole = () => import('./views/admin-qr.js');

function loadFailed(el) {
  el.append(h('div.page',
    h('h1.page-title', { tabindex: '-1' }, t('err.load_view_title')),
    h('p', t('err.load_view')),
    h('button.btn.btn-primary', { type: 'button', onclick: () => location.reload() }, t('common.reload'))));
}

const lead = () => session.isLead();
const andon = () => session.canAndon();
const admin = () => session.hasRole('admin');

route('/signin', () => signinView, { public: true, title: 'nav.signin' });
route('/inbox', () => inboxView, { tab: 'inbox', title: 'nav.inbox' });
route('/task/:id', () => taskView, { tab: 'inbox', title: 'task.title' });
route('/outbox', () => outboxView, { tab: 'outbox', title: 'nav.outbox' });
route('/settings', () => settingsView, { tab: 'settings', title: 'nav.settings' });
route('/notifications', () => notificationsView, { title: 'nav.notifications' });
route('/wo', () => lazyLeads().then((m) => m.listView), { tab: 'wo', allow: lead, title: 'nav.orders', onLoadError: loadFailed });
route('/wo/:id', () => lazyLeads().then((m) => m.detailView), { tab: 'wo', title: 'wo.title', onLoadError: loadFailed });
route('/new', () => lazyLeads().then((m) => m.newView), { tab: 'wo', allow: lead, title: 'nav.new', onLoadError: loadFailed });
route('/andon', () => lazyAndon().then((m) => m.boardView), { tab: 'andon', allow: andon, title: 'nav.andon', onLoadError: loadFailed });
route('/andon/new', () => lazyAndon().then((m) => m.pullView), { tab: 'andon', allow: andon, title: 'andon.pull_title', onLoadError: loadFailed });
route('/andon/:id', () => lazyAndon().then((m) => m.detailView), { tab: 'andon', allow: andon, title: 'andon.detail_title', onLoadError: loadFailed });
route('/trace/:batch', () => lazyAndon().then((m) => m.traceView), { tab: 'andon', allow: andon, title: 'trace.title', onLoadError: loadFailed });
// A scanned QR entry point: for everyone signed in (the printed code is the admin's grant).
route('/qr/:code', () => lazyQr().then((m) => m.scanView), { tab: 'inbox', title: 'qr.title', onLoadError: loadFailed });
route('/team', () => lazyTeam().then((m) => m.teamView), { tab: 'wo', allow: lead, title: 'team.title', onLoadError: loadFailed });
route('/team/reach', () => import('./views/reach.js').then((m) => m.teamReachView), { tab: 'wo', allow: lead, title: 'reach.title', onLoadError: loadFailed });
// A lead's shifts (docs/design.md §16): the week per person, and one shift planned or changed ('new' before ':id').
const lazyRoster = () => import('./views/roster.js');
route('/team/shifts', () => lazyRoster().then((m) => m.rosterView), { tab: 'wo', allow: lead, title: 'roster.title', onLoadError: loadFailed });
route('/team/shifts/new', () => lazyRoster().then((m) => m.shiftView), { tab: 'wo', allow: lead, title: 'roster.new_title', onLoadError: loadFailed });
route('/team/shifts/:id', () => lazyRoster().then((m) => m.shiftView), { tab: 'wo', allow: lead, title: 'roster.edit_title', onLoadError: loadFailed });
route('/dashboard', () => lazyDashboard().then((m) => m.dashboardView), { tab: 'dashboard', allow: lead, title: 'nav.dashboard', onLoadError: loadFailed });
// A chat card's or an SMS's signed link (docs/design.md §14), redeemed under the reader's session; and the page
// /l/<token> opens for a link that cannot be used, shown signed in or not.
const lazyLink = () => import('./views/link.js');
route('/link/:token', () => lazyLink().then((m) => m.linkView), { tab: 'inbox', title: 'link.title', onLoadError: loadFailed });
route('/link-refused/:reason', () => lazyLink().then((m) => m.refusedView), { anyone: true, title: 'link.title', onLoadError: loadFailed });
// The admin console: its own lazy chunk, for admins only (the API refuses everyone else as well).
const consoleRoute = (view, title) => ({ load: () => lazyAdmin().then((m) => m[view]), meta: { tab: 'admin', allow: admin, title, onLoadError: loadFailed } });
for (const [path, view, title] of [
  ['/admin', 'homeView', 'admin.title'], ['/admin/people', 'peopleView', 'admin.people'], ['/admin/people/:id', 'personView', 'admin.people'],
  ['/admin/reach', 'reachView', 'admin.reach'],
  ['/admin/departments', 'departmentsView', 'admin.departments'], ['/admin/groups', 'groupsView', 'admin.groups'],
  ['/admin/keys', 'keysView', 'admin.keys'], ['/admin/calendars', 'calendarsView', 'admin.calendars'],
]) {
  const { load, meta } = consoleRoute(view, title);
  route(path, load, meta);
}
// The console's calendar editor: its own lazy chunk.
const lazyCalendars = () => import('./views/admin-calendars.js');
route('/admin/calendars/:id', () => lazyCalendars().then((m) => m.calendarView), consoleRoute('calendarView', 'admin.calendars').meta);
route('/admin/qr', () => lazyQrConsole().then((m) => m.qrView), consoleRoute('qrView', 'admin.qr').meta);
// Shifts: who works when (docs/design.md §16), a lazy chunk of its own on the console's shell.
route('/admin/shifts', () => import('./views/admin-shifts.js').then((m) => m.shiftsView), consoleRoute('shiftsView', 'admin.shifts').meta);
// The flow designer: a lazy chunk of its own (with its layout library), on the console's shell.
const lazyDesigner = () => import('./views/designer.js');
route('/admin/flows', () => lazyDesigner().then((m) => m.flowsView), consoleRoute('flowsView', 'admin.flows').meta);
route('/admin/flows/:key', () => lazyDesigner().then((m) => m.designerView), consoleRoute('designerView', 'admin.flows').meta);

setGuard((match, path) => {
  if (match && match.meta.anyone) return null;
  if (!session.signedIn()) return match && match.meta.public ? null : `/signin${path !== '/' && path !== '/signin' ? `?next=${encodeURIComponent(path)}` : ''}`;
  if (match && match.meta.public) return '/inbox';
  if (match && match.meta.allow && session.user() && !match.meta.allow()) return '/inbox';
  return null;
});

// ------------------------------------------------------------------ shell
const els = {};

function tabs() {
  if (!session.signedIn()) return [];
  const list = [{ id: 'inbox', href: '#/inbox', icon: 'inbox', label: 'nav.inbox' }];
  if (lead()) list.push({ id: 'wo', href: '#/wo', icon: 'orders', label: 'nav.orders' });
  if (andon()) list.push({ id: 'andon', href: '#/andon', icon: 'andon', label: 'nav.andon' });
  if (lead()) list.push({ id: 'dashboard', href: '#/dashboard', icon: 'chart', label: 'nav.dashboard_tab' });
  if (admin()) list.push({ id: 'admin', href: '#/admin/people', icon: 'tune', label: 'nav.admin' });
  if (list.length < 4) list.push({ id: 'outbox', href: '#/outbox', icon: 'outbox', label: 'nav.outbox' });
  list.push({ id: 'settings', href: '#/settings', icon: 'user', label: 'nav.settings' });
  return list;
}

let activeMeta = {};

function renderNav() {
  const list = tabs();
  els.nav.hidden = !list.length;
  document.body.classList.toggle('has-tabbar', list.length > 0);
  const { pending, failed } = counts();
  replace(els.navList, list.map((tb) => {
    const current = activeMeta.tab === tb.id;
    const badgeN = tb.id === 'outbox' ? pending + failed : 0;
    return h('li', h('a.tab', { href: tb.href, 'aria-current': current ? 'page' : false },
      icon(tb.icon, 'icon tab-icon'),
      h('span.tab-label', t(tb.label)),
      badgeN ? h('span.badge', { 'aria-label': t('outbox.badge', { n: badgeN }) }, String(badgeN)) : null));
  }));
  els.nav.setAttribute('aria-label', t('nav.main'));
}

let unread = 0;
function renderTopbar() {
  const signed = session.signedIn();
  els.brandText.textContent = t('app.name');
  els.skip.textContent = t('nav.skip');
  els.bell.hidden = !signed;
  els.sync.hidden = !signed;
  els.bell.setAttribute('aria-label', unread ? t('nav.notifications_unread', { n: unread }) : t('nav.notifications'));
  replace(els.bell, icon('bell'), unread ? h('span.badge', { 'aria-hidden': 'true' }, unread > 99 ? '99+' : String(unread)) : null);
  const { pending, failed } = counts();
  const offline = navigator.onLine === false;
  let label;
  let cls = 'sync-ok';
  let ic = 'check';
  if (failed) {
    label = t('sync.failed', { n: failed });
    cls = 'sync-failed';
    ic = 'warn';
  } else if (pending) {
    label = t('sync.pending', { n: pending });
    cls = 'sync-pending';
    ic = 'sync';
  } else if (offline) {
    label = t('sync.offline');
    cls = 'sync-offline';
    ic = 'cloudoff';
  } else {
    label = t('sync.ok');
  }
  els.sync.className = `sync-chip ${cls}`;
  els.sync.setAttribute('aria-label', `${label} · ${t('nav.outbox')}`);
  els.sync.title = label;
  replace(els.sync, icon(ic), h('span', { 'aria-hidden': 'true' }, label));
  els.offline.hidden = !offline;
  els.offline.textContent = t('offline.banner');
}

function buildShell() {
  const app = document.getElementById('app');
  els.skip = h('a.skip-link', { href: '#main' });
  els.skip.addEventListener('click', (e) => {
    e.preventDefault();
    const target = document.querySelector('#main h1') || els.main;
    target.focus();
  });
  els.brandText = h('span.brand-text');
  els.sync = h('a.sync-chip', { href: '#/outbox' });
  els.bell = h('a.icon-btn.bell', { href: '#/notifications' });
  els.offline = h('p.banner.banner-offline', { role: 'status', hidden: true });
  els.update = h('div.banner.banner-update', { hidden: true });
  els.main = h('main#main', { tabindex: '-1' });
  els.navList = h('ul.tabs');
  els.nav = h('nav.tabbar', els.navList);
  const header = h('header.topbar',
    h('div.topbar-inner',
      h('a.brand', { href: '#/inbox' }, h('img', { src: '/icons/icon-192.png', alt: '', width: 28, height: 28 }), els.brandText),
      h('div.topbar-actions', els.sync, els.bell)),
    els.offline, els.update);
  replace(app, els.skip, header, els.main, els.nav);
  renderTopbar();
  renderNav();
}

setAfterRender((match) => {
  activeMeta = match.meta || {};
  renderNav();
  renderTopbar();
  const h1 = els.main.querySelector('h1');
  document.title = `${h1 && h1.textContent ? h1.textContent : t(activeMeta.title || 'app.name')} · ${t('app.name')}`;
  if (routed) (h1 || els.main).focus({ preventScroll: true });
  routed = true;
  window.scrollTo(0, 0);
});
let routed = false;

// ------------------------------------------------------------------ notifications count
async function refreshUnread() {
  if (!session.signedIn() || navigator.onLine === false) return;
  try {
    const data = await session.get('/notifications?unread=true&per_page=100');
    const items = Array.isArray(data) ? data : (data && data.items) || [];
    unread = data && typeof data.total === 'number' ? data.total : items.length;
    renderTopbar();
  } catch {
    /* the count is a nicety */
  }
}
bus.on('notifications:changed', refreshUnread);

// ------------------------------------------------------------------ service worker
let reloading = false;
function showUpdate(reg) {
  replace(els.update,
    h('span', t('update.available')),
    h('button.btn.btn-small.btn-primary', {
      type: 'button',
      onclick: () => {
        reloading = true;
        if (reg.waiting) reg.waiting.postMessage({ type: 'skip-waiting' });
        else location.reload();
      },
    }, t('update.reload')));
  els.update.hidden = false;
}

function registerSw() {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.register('/sw.js', { scope: '/' }).then((reg) => {
    if (reg.waiting && navigator.serviceWorker.controller) showUpdate(reg);
    reg.addEventListener('updatefound', () => {
      const sw = reg.installing;
      if (!sw) return;
      sw.addEventListener('statechange', () => {
        if (sw.state === 'installed' && navigator.serviceWorker.controller) showUpdate(reg);
      });
    });
    setInterval(() => reg.update().catch(() => {}), 60 * 60 * 1000);
  }).catch(() => {
    /* the app still works online without a service worker */
  });
  navigator.serviceWorker.addEventListener('controllerchange', () => {
    if (reloading) location.reload();
  });
  navigator.serviceWorker.addEventListener('message', (e) => {
    const msg = e.data || {};
    if (msg.type === 'navigate' && msg.url) {
      const hash = msg.url.includes('#') ? msg.url.slice(msg.url.indexOf('#')) : '#/inbox';
      if (location.hash !== hash) location.hash = hash;
      else render();
    } else if (msg.type === 'push') {
      bus.emit('push', msg.payload || {});
      bus.emit('inbox:refresh');
      refreshUnread();
    }
  });
}

// ------------------------------------------------------------------ boot
async function applyLocaleFromUser(u) {
  const choice = await kvGet('locale_choice');
  const fromUser = normalizeLocale(u && u.locale);
  if (choice && fromUser !== choice && session.signedIn()) {
    session.patch('/me', { locale: choice }).catch(() => {});
  }
  const next = choice || fromUser || browserLocale();
  if (next !== getLocale()) setLocale(next);
  await kvSet('locale', next);
}

async function afterSignIn() {
  try {
    const me = await session.refreshMe();
    await applyLocaleFromUser(me);
  } catch {
    /* offline start: keep the cached user */
  }
  refreshUnread();
  startLive();
  const st = pushState();
  if (st.supported && st.permission === 'granted') syncSubscription().catch(() => {});
}

async function boot() {
  await session.restoreSession();
  const stored = (await kvGet('locale_choice')) || normalizeLocale(session.user() && session.user().locale) || (await kvGet('locale'));
  setLocale(stored || browserLocale());
  buildShell();
  onLocaleChange((loc) => {
    kvSet('locale', loc);
    renderTopbar();
    renderNav();
    render();
  });
  session.onUnauthorized(async () => {
    await session.logout();
    toast(t('auth.expired'), 'warn');
    navigate(`/signin?next=${encodeURIComponent(parseHash().path)}`, { replace: true });
  });
  session.onSessionChange(() => {
    renderNav();
    renderTopbar();
  });
  bus.on('signed-in', afterSignIn);
  onOutboxChange(() => {
    renderTopbar();
    renderNav();
  });
  window.addEventListener('online', () => {
    renderTopbar();
    bus.emit('inbox:refresh');
  });
  window.addEventListener('offline', renderTopbar);
  startOutbox();
  start();
  if (session.signedIn()) afterSignIn();
  setInterval(() => {
    if (document.visibilityState === 'visible') refreshUnread();
  }, 60000);
  if (document.readyState === 'complete') registerSw();
  else window.addEventListener('load', registerSw);
}

boot();
