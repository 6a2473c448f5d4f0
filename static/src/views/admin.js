// The admin console (lazy chunk, admins only): people (find, create, edit, reset a password, deactivate, import
// from an HR file with a dry run first, export), departments as a tree, groups, API keys and calendars.
// Everything goes through the same API as integrations; people are picked by name, never by typing ids.
// QR entry points live in admin-qr.js, on the shell and pieces exported here.
import { h, icon, replace, uid } from '../ui/dom.js';
import { t, tMaybe, fmtWhen, fmtDate, stepTitle } from '../i18n.js';
import * as session from '../session.js';
import { navigate } from '../router.js';
import { toast } from '../ui/toast.js';
import { errorText, fieldErrors } from '../ui/errors.js';
import { openDialog, confirmDialog, promptDialog } from '../ui/dialog.js';
import { pageHeader, loading, emptyState, errorState } from '../ui/parts.js';
import { personField } from '../ui/people.js';
import { unreachable } from './reach.js';

const ROLES = ['staff', 'lead', 'quality', 'admin'];
const SCOPES = ['orders:write', 'inventory:write', 'catalog:write', 'volumes:write'];
const SECTIONS = [
  ['people', 'admin.people'], ['reach', 'admin.reach'], ['departments', 'admin.departments'], ['groups', 'admin.groups'],
  ['keys', 'admin.keys'], ['calendars', 'admin.calendars'], ['shifts', 'admin.shifts'], ['qr', 'admin.qr'], ['flows', 'admin.flows'],
];

// ------------------------------------------------------------------ shared pieces
export function shell(el, section, ...content) {
  const main = document.getElementById('main');
  if (main) main.classList.add('console');
  const page = h('div.page.page-admin',
    pageHeader(t('admin.title')),
    h('nav.subnav', { 'aria-label': t('admin.sections') },
      h('ul', SECTIONS.map(([id, label]) => h('li', h('a.subnav-link', {
        href: `#/admin/${id}`, 'aria-current': id === section ? 'page' : false,
      }, t(label)))))),
    ...content);
  el.append(page);
  return () => { if (main) main.classList.remove('console'); };
}

async function everyone() {
  const found = [];
  for (let page = 1; page < 100; page += 1) {
    const res = await session.get(`/users?per_page=500&page=${page}`);
    found.push(...res.items);
    if (found.length >= res.total || !res.items.length) break;
  }
  return found;
}

export async function allOf(path) {
  const res = await session.get(`${path}?per_page=500`);
  return res.items || [];
}

const personLabel = (p) => (p ? `${p.name} (${p.login})` : '');

/** A person picked by name (the shared picker, suggestions from the people directory); answers the chosen person's
 *  id, null when left empty, undefined when the text names nobody in `people`. */
function personPicker(label, people, currentId) {
  const current = people.find((p) => p.id === currentId) || null;
  const picker = personField(label, { initial: current, hint: t('admin.pick_hint') });
  const value = () => {
    const login = picker.value();
    if (!login) return null;
    const match = people.find((p) => p.login === login || personLabel(p) === login || p.name === login);
    return match ? match.id : undefined;
  };
  return { field: picker.field, value, input: picker.input };
}

export function textField(label, value = '', attrs = {}) {
  const id = uid('f');
  const input = h('input.input', { id, type: 'text', autocomplete: 'off', ...attrs });
  input.value = value || '';
  return { field: h('div.field', h('label', { for: id }, label), input), input };
}

export function selectField(label, options, value) {
  const id = uid('s');
  const select = h('select.input', { id }, options.map(([v, text]) => h('option', { value: v }, text)));
  select.value = value === null || value === undefined ? '' : String(value);
  return { field: h('div.field', h('label', { for: id }, label), select), select };
}

function checks(legend, values, chosen, labelOf) {
  const boxes = values.map((v) => {
    const id = uid('c');
    const box = h('input', { type: 'checkbox', id, value: v });
    box.checked = chosen.includes(v);
    return { v, box, label: h('label.check-option', { for: id }, box, h('span', labelOf(v))) };
  });
  return {
    field: h('fieldset.field.choices', h('legend', legend), h('div.choice-list.choice-row', boxes.map((b) => b.label))),
    value: () => boxes.filter((b) => b.box.checked).map((b) => b.v),
  };
}

/** A failed save, in words, with the server's per-field messages. */
export function saveError(err) {
  const fields = fieldErrors(err);
  const lines = Object.entries(fields).map(([k, v]) => `${tMaybe(`admin.field.${k}`, k)}: ${v}`);
  return [errorText(err), ...lines].join(' · ');
}

export async function submitDialog({ title, body, confirmLabel, danger, collect, send }) {
  // Keep the dialog's answer, then send it; a refusal is shown and the admin can try again.
  for (;;) {
    const value = await openDialog({ title, body, confirmLabel, danger, collect });
    if (value === null) return null;
    if (value && value.problem) {
      toast(value.problem, 'error');
      continue;
    }
    try {
      return await send(value);
    } catch (err) {
      toast(saveError(err), 'error', 8000);
    }
  }
}

// ------------------------------------------------------------------ people
export function peopleView(el) {
  const list = h('div.admin-list', loading());
  const q = h('input.input', { type: 'search', id: 'people-q', placeholder: t('admin.search_people'), autocomplete: 'off' });
  const count = h('p.result-count.muted', { role: 'status' });
  const fileId = uid('file');
  const file = h('input.input', { type: 'file', id: fileId, accept: '.csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' });
  const preview = h('div.import-preview');
  const cleanup = shell(el, 'people',
    h('div.page-head-row',
      h('div.field.grow', h('label.sr-only', { for: 'people-q' }, t('admin.search_people')), q),
      h('div.button-row',
        h('button.btn.btn-primary', { type: 'button', onclick: () => createPerson() }, icon('plus'), h('span', t('admin.new_person'))),
        h('button.btn.btn-secondary', { type: 'button', onclick: () => exportPeople() }, t('admin.export')))),
    h('section.section', { 'aria-labelledby': 'imp' },
      h('h2#imp.section-title', t('admin.import_title')),
      h('p.hint', t('admin.import_hint')),
      h('div.field', h('label', { for: fileId }, t('admin.import_file')), file),
      preview),
    count, list);

  let timer = null;
  let depts = [];
  let people = [];
  async function load() {
    try {
      const term = q.value.trim();
      const [page, d] = await Promise.all([
        session.get(`/users?per_page=200${term ? `&q=${encodeURIComponent(term)}` : ''}`), depts.length ? depts : allOf('/departments')]);
      depts = d;
      const deptName = Object.fromEntries(depts.map((x) => [x.id, x.name]));
      count.textContent = t('admin.people_count', { shown: page.items.length, total: page.total });
      replace(list, page.items.length ? h('ul.cards', page.items.map((p) => h('li.card',
        h('a.card-link', { href: `#/admin/people/${p.id}` },
          h('div.card-top', h('span.card-title', p.name), p.active ? null : h('span.chip.chip-cancelled', t('admin.inactive'))),
          h('p.card-step.muted', [p.login, deptName[p.department_id], (p.roles || []).map((r) => tMaybe(`role.${r}`, r)).join(' · ')]
            .filter(Boolean).join(' · ')))))) : emptyState(t('admin.no_people')));
    } catch (err) {
      replace(list, errorState(errorText(err), load));
    }
  }
  q.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(load, 250);
  });

  async function createPerson() {
    people = people.length ? people : await everyone();
    depts = depts.length ? depts : await allOf('/departments');
    const login = textField(t('admin.field.login'), '', { autocapitalize: 'none', spellcheck: false, maxlength: 64 });
    const name = textField(t('admin.field.name'), '', { maxlength: 200 });
    const password = textField(t('admin.field.password'), '', { type: 'password', autocomplete: 'new-password' });
    const dept = selectField(t('admin.field.department_id'), [['', t('admin.none')], ...depts.map((d) => [d.id, d.name])], '');
    const manager = personPicker(t('admin.field.manager_id'), people, null);
    const roles = checks(t('admin.field.roles'), ROLES, ['staff'], (r) => tMaybe(`role.${r}`, r));
    const created = await submitDialog({
      title: t('admin.new_person'),
      body: h('div.fields', login.field, name.field, password.field, dept.field, manager.field, roles.field),
      confirmLabel: t('admin.create'),
      collect: () => {
        const managerId = manager.value();
        if (managerId === undefined) return { problem: t('admin.unknown_person') };
        return {
          login: login.input.value.trim(), name: name.input.value.trim(), password: password.input.value,
          department_id: dept.select.value ? Number(dept.select.value) : null, manager_id: managerId, roles: roles.value(),
        };
      },
      send: (body) => session.post('/users', body),
    });
    if (created) {
      toast(t('admin.created', { name: created.name }), 'ok');
      people = [];
      load();
    }
  }

  async function exportPeople() {
    const res = await fetch('/api/v1/users/export.csv', { headers: { Authorization: `Bearer ${session.token()}` } });
    if (!res.ok) {
      toast(t('err.server'), 'error');
      return;
    }
    const url = URL.createObjectURL(await res.blob());
    const a = h('a', { href: url, download: 'people.csv' });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  async function sendImport(dryRun) {
    const chosen = file.files && file.files[0];
    if (!chosen) return null;
    const form = new FormData();
    form.append('file', chosen, chosen.name);
    return session.api('POST', `/users/import?dry_run=${dryRun}`, { form }).then((r) => r.data);
  }

  file.addEventListener('change', async () => {
    replace(preview, loading(t('admin.import_checking')));
    try {
      const dry = await sendImport(true);
      if (!dry) {
        replace(preview);
        return;
      }
      const confirmBtn = h('button.btn.btn-primary', { type: 'button' },
        t('admin.import_confirm', { created: dry.created, updated: dry.updated }));
      confirmBtn.disabled = !(dry.created || dry.updated);
      confirmBtn.addEventListener('click', async () => {
        confirmBtn.disabled = true;
        try {
          const done = await sendImport(false);
          toast(t('admin.import_done', { created: done.created, updated: done.updated, unchanged: done.unchanged }), 'ok', 8000);
          replace(preview, h('p.notice-info', t('admin.import_done', { created: done.created, updated: done.updated, unchanged: done.unchanged })));
          file.value = '';
          people = [];
          load();
        } catch (err) {
          toast(saveError(err), 'error', 8000);
          confirmBtn.disabled = false;
        }
      });
      replace(preview,
        h('p', t('admin.import_summary', { created: dry.created, updated: dry.updated, unchanged: dry.unchanged })),
        dry.ignored_columns && dry.ignored_columns.length ? h('p.hint', t('admin.import_ignored', { columns: dry.ignored_columns.join(', ') })) : null,
        h('div.table-wrap', { tabindex: '0', role: 'region', 'aria-label': t('admin.import_title') }, h('table.data-table.import-table',
          h('thead', h('tr', h('th', t('admin.row')), h('th', t('admin.field.login')), h('th', t('admin.action')), h('th', t('admin.changes')))),
          h('tbody', dry.rows.map((r) => h(`tr.import-${r.action}`, h('td', String(r.row)), h('td', r.login),
            h('td', t(`admin.action.${r.action}`)), h('td', (r.changes || []).map((c) => tMaybe(`admin.field.${c}`, c)).join(', '))))))),
        h('div.button-row', confirmBtn));
    } catch (err) {
      const problems = (err && err.details && err.details.rows) || [];
      replace(preview,
        h('p.form-error', { role: 'alert' }, problems.length ? t('admin.import_problems', { n: problems.length }) : errorText(err)),
        problems.length ? h('div.table-wrap', { tabindex: '0', role: 'region', 'aria-label': t('admin.import_problems_label') },
          h('table.data-table.import-table',
            h('thead', h('tr', h('th', t('admin.row')), h('th', t('admin.column')), h('th', t('admin.problem')))),
            h('tbody', problems.map((p) => h('tr', h('td', String(p.row)), h('td', tMaybe(`admin.column.${p.column}`, p.column)), h('td', p.message)))))) : null);
    }
  });

  load();
  return () => {
    clearTimeout(timer);
    cleanup();
  };
}

export function personView(el, params) {
  const body = h('div', loading());
  const cleanup = shell(el, 'people', h('a.back-link', { href: '#/admin/people' }, icon('back'), h('span', t('admin.people'))), body);
  const id = Number(params.id);

  async function load() {
    try {
      const [person, people, depts, work] = await Promise.all([session.get(`/users/${id}`), everyone(), allOf('/departments'),
        session.get(`/users/${id}/work`)]);
      draw(person, people, depts, work);
    } catch (err) {
      replace(body, errorState(errorText(err), load));
    }
  }

  function draw(p, people, depts, work) {
    const name = textField(t('admin.field.name'), p.name, { maxlength: 200 });
    const dept = selectField(t('admin.field.department_id'), [['', t('admin.none')], ...depts.map((d) => [d.id, d.name])], p.department_id);
    const manager = personPicker(t('admin.field.manager_id'), people.filter((x) => x.id !== p.id), p.manager_id);
    const roles = checks(t('admin.field.roles'), ROLES, p.roles || [], (r) => tMaybe(`role.${r}`, r));
    const andon = checks(t('admin.field.permissions'), ['andon.pull'], p.permissions || [], () => t('admin.andon_pull'));
    const locale = selectField(t('admin.field.locale'), [['zh-CN', t('lang.zh-CN')], ['en', t('lang.en')]], p.locale);
    const phone = textField(t('admin.field.phone'), p.phone, { type: 'tel', maxlength: 32 });
    const email = textField(t('admin.field.email'), p.email, { type: 'email', maxlength: 254 });
    // Their user ids in the company's DingTalk, WeCom and Feishu apps (the phone is the SMS channel's).
    const identities = ['dingtalk_userid', 'wecom_userid', 'feishu_user_id'].map((key) => [key,
      textField(t(`admin.field.${key}`), p[key], { maxlength: 64, autocomplete: 'off' })]);
    const status = h('p.form-error', { role: 'alert', hidden: true });
    const form = h('form.fields.admin-form', { novalidate: true },
      name.field, dept.field, manager.field, roles.field, andon.field, locale.field, phone.field, email.field,
      h('fieldset.field', h('legend', t('admin.channels')), h('p.hint', t('admin.channels_hint')), ...identities.map(([, f]) => f.field)),
      status,
      h('div.button-row', h('button.btn.btn-primary', { type: 'submit' }, t('admin.save'))));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      status.hidden = true;
      const managerId = manager.value();
      if (managerId === undefined) {
        status.textContent = t('admin.unknown_person');
        status.hidden = false;
        return;
      }
      const granted = andon.value();
      try {
        const saved = await session.patch(`/users/${p.id}`, {
          name: name.input.value.trim(), department_id: dept.select.value ? Number(dept.select.value) : null, manager_id: managerId,
          roles: roles.value(), permissions: granted, locale: locale.select.value,
          phone: phone.input.value.trim() || null, email: email.input.value.trim() || null,
          ...Object.fromEntries(identities.map(([key, f]) => [key, f.input.value.trim() || null])),
        });
        toast(t('admin.saved', { name: saved.name }), 'ok');
        load();
      } catch (err) {
        status.textContent = saveError(err);
        status.hidden = false;
      }
    });
    const resetBtn = h('button.btn.btn-secondary', { type: 'button' }, t('admin.reset_password'));
    resetBtn.addEventListener('click', async () => {
      const value = await promptDialog(t('admin.reset_password'), t('admin.new_password'), { confirmLabel: t('admin.save') });
      if (!value) return;
      try {
        await session.patch(`/users/${p.id}`, { password: value });
        toast(t('admin.password_set', { name: p.name }), 'ok');
      } catch (err) {
        toast(saveError(err), 'error', 8000);
      }
    });
    const activeBtn = h(`button.btn.${p.active ? 'btn-danger' : 'btn-secondary'}`, { type: 'button' },
      p.active ? t('admin.deactivate') : t('admin.reactivate'));
    activeBtn.addEventListener('click', async () => {
      if (p.active && !(await confirmDialog(t('admin.deactivate_title', { name: p.name }), t('admin.deactivate_body'),
        { confirmLabel: t('admin.deactivate'), danger: true }))) return;
      try {
        const saved = await session.patch(`/users/${p.id}`, { active: !p.active });
        toast(p.active ? t('admin.deactivated', { name: p.name, n: saved.handed_back || 0 }) : t('admin.reactivated', { name: p.name }), 'ok', 8000);
        load();
      } catch (err) {
        toast(saveError(err), 'error', 8000);
      }
    });
    replace(body,
      h('h2.page-title.person-title', { tabindex: '-1' }, p.name, p.active ? null : h('span.chip.chip-cancelled', t('admin.inactive'))),
      h('p.muted', `${p.login} · ${(p.roles || []).map((r) => tMaybe(`role.${r}`, r)).join(' · ')}`),
      h('section.section', { 'aria-labelledby': 'pe' }, h('h2#pe.section-title', t('admin.profile')), form),
      h('section.section', h('div.button-row', resetBtn, activeBtn)),
      h('section.section', { 'aria-labelledby': 'pw' }, h('h2#pw.section-title', t('admin.open_work')),
        h('p.muted', t('admin.open_work_counts', { mine: work.mine.length, pool: work.pool.length })),
        work.mine.length ? h('ul.cards.person-work', work.mine.map((task) => h('li.card',
          h('a.card-link', { href: `#/wo/${task.work_order.id}` },
            h('span.card-title', `${task.work_order.number} · ${task.work_order.title}`),
            h('p.card-step.muted', [stepTitle(task), tMaybe(`task.status.${task.status}`, task.status),
              task.due_at ? `${t('wo.due_at')} ${fmtWhen(task.due_at)}` : ''].filter(Boolean).join(' · ')))))) : null));
  }

  load();
  return cleanup;
}

// ------------------------------------------------------------------ departments
/** #/admin/reach: whom nothing reached lately, beside people; a name opens the person's record to fix their IDs. */
export function reachView(el) {
  const body = h('div.page-reach');
  const cleanup = shell(el, 'reach', h('h2.section-title', t('reach.title')), body);
  unreachable(body, { console: true });
  return cleanup;
}

export function departmentsView(el) {
  const tree = h('div.admin-tree', loading());
  const cleanup = shell(el, 'departments',
    h('div.page-head-row', h('p.hint', t('admin.tree_hint')),
      h('button.btn.btn-primary', { type: 'button', onclick: () => edit(null) }, icon('plus'), h('span', t('admin.new_department')))),
    tree);
  let depts = [];
  let people = [];
  let calendars = [];

  async function load() {
    try {
      [depts, people, calendars] = await Promise.all([allOf('/departments'), everyone(), allOf('/calendars')]);
      draw();
    } catch (err) {
      replace(tree, errorState(errorText(err), load));
    }
  }

  function draw() {
    const byParent = {};
    depts.forEach((d) => (byParent[d.parent_id || 0] = byParent[d.parent_id || 0] || []).push(d));
    const names = Object.fromEntries(people.map((p) => [p.id, p.name]));
    const calNames = Object.fromEntries(calendars.map((c) => [c.id, calendarName(c)]));
    const branch = (parentId) => {
      const children = (byParent[parentId] || []).sort((a, b) => a.name.localeCompare(b.name));
      if (!children.length) return null;
      return h('ul.tree', children.map((d) => h('li.tree-node',
        h('button.tree-item', { type: 'button', onclick: () => edit(d), 'aria-label': t('admin.edit_named', { name: d.name }) },
          h('span.tree-name', d.name), h('span.muted', ` ${d.code}`),
          d.active ? null : h('span.chip.chip-cancelled', t('admin.inactive')),
          d.head_id ? h('span.tree-meta', t('admin.head_is', { name: names[d.head_id] || '' })) : null,
          d.calendar_id ? h('span.tree-meta', t('admin.calendar_is', { name: calNames[d.calendar_id] || '' })) : null),
        branch(d.id))));
    };
    replace(tree, depts.length ? branch(0) : emptyState(t('admin.no_departments')));
  }

  async function edit(d) {
    if (!people.length || !calendars.length) [depts, people, calendars] = await Promise.all([allOf('/departments'), everyone(), allOf('/calendars')]);
    const code = textField(t('admin.field.code'), d ? d.code : '', { maxlength: 64, autocapitalize: 'characters' });
    const name = textField(t('admin.field.name'), d ? d.name : '', { maxlength: 200 });
    const parent = selectField(t('admin.field.parent_id'), [['', t('admin.top_level')],
      ...depts.filter((x) => !d || x.id !== d.id).map((x) => [x.id, x.name])], d ? d.parent_id : '');
    const head = personPicker(t('admin.field.head_id'), people, d ? d.head_id : null);
    const calendar = selectField(t('admin.field.calendar_id'), [['', t('admin.inherit_calendar')],
      ...calendars.map((c) => [c.id, calendarName(c)])], d ? d.calendar_id : '');
    const saved = await submitDialog({
      title: d ? t('admin.edit_named', { name: d.name }) : t('admin.new_department'),
      body: h('div.fields', code.field, name.field, parent.field, head.field, calendar.field, h('p.hint', t('admin.move_rules'))),
      confirmLabel: d ? t('admin.save') : t('admin.create'),
      collect: () => {
        const headId = head.value();
        if (headId === undefined) return { problem: t('admin.unknown_person') };
        return { code: code.input.value.trim(), name: name.input.value.trim(), parent_id: parent.select.value ? Number(parent.select.value) : null,
          head_id: headId, calendar_id: calendar.select.value ? Number(calendar.select.value) : null };
      },
      send: (body) => (d ? session.patch(`/departments/${d.id}`, body) : session.post('/departments', body)),
    });
    if (saved) {
      toast(t('admin.saved', { name: saved.name }), 'ok');
      load();
    }
  }

  load();
  return cleanup;
}

export function calendarName(c) {
  return c.key ? tMaybe(`calendar.${c.key}`, c.name) : c.name;
}

// ------------------------------------------------------------------ groups
export function groupsView(el) {
  const list = h('div', loading());
  const cleanup = shell(el, 'groups',
    h('div.page-head-row', h('p.hint', t('admin.groups_hint')),
      h('button.btn.btn-primary', { type: 'button', onclick: () => edit(null) }, icon('plus'), h('span', t('admin.new_group')))),
    list);
  let people = [];
  let groups = [];

  async function load() {
    try {
      [groups, people] = await Promise.all([allOf('/groups'), everyone()]);
      const names = Object.fromEntries(people.map((p) => [p.id, p.name]));
      replace(list, groups.length ? h('ul.cards', groups.map((g) => h('li.card',
        h('button.card-link.tree-item', { type: 'button', onclick: () => edit(g) },
          h('span.card-title', g.name),
          h('p.card-step.muted', t('admin.members_n', { n: (g.members || []).length })),
          h('p.card-step', (g.members || []).map((m) => names[m] || '').filter(Boolean).join('、')))))) : emptyState(t('admin.no_groups')));
    } catch (err) {
      replace(list, errorState(errorText(err), load));
    }
  }

  async function edit(g) {
    if (!people.length) people = await everyone(); // opened before the list finished loading
    const name = textField(t('admin.field.name'), g ? g.name : '', { maxlength: 200 });
    const members = new Set(g ? g.members : []);
    const listEl = h('ul.member-list');
    const picker = personPicker(t('admin.add_member'), people, null);
    const drawMembers = () => replace(listEl, [...members].map((m) => {
      const p = people.find((x) => x.id === m);
      return h('li.member', h('span', p ? personLabel(p) : String(m)),
        h('button.btn.btn-small.btn-ghost', { type: 'button', 'aria-label': t('admin.remove_named', { name: p ? p.name : m }),
          onclick: () => { members.delete(m); drawMembers(); } }, t('admin.remove')));
    }));
    const addBtn = h('button.btn.btn-secondary.btn-small', { type: 'button' }, t('admin.add'));
    addBtn.addEventListener('click', () => {
      const picked = picker.value();
      if (picked) {
        members.add(picked);
        picker.input.value = '';
        drawMembers();
      }
    });
    drawMembers();
    const saved = await submitDialog({
      title: g ? t('admin.edit_named', { name: g.name }) : t('admin.new_group'),
      body: h('div.fields', name.field, picker.field, addBtn, listEl),
      confirmLabel: g ? t('admin.save') : t('admin.create'),
      collect: () => ({ name: name.input.value.trim(), members: [...members] }),
      send: (body) => (g ? session.patch(`/groups/${g.id}`, body) : session.post('/groups', body)),
    });
    if (saved) {
      toast(t('admin.saved', { name: saved.name }), 'ok');
      load();
    }
  }

  load();
  return cleanup;
}

// ------------------------------------------------------------------ API keys
export function keysView(el) {
  const list = h('div', loading());
  const secret = h('div.key-secret');
  const cleanup = shell(el, 'keys',
    h('div.page-head-row', h('p.hint', t('admin.keys_hint')),
      h('button.btn.btn-primary', { type: 'button', onclick: () => create() }, icon('plus'), h('span', t('admin.new_key')))),
    secret, list);

  async function load() {
    try {
      const keys = await allOf('/api-keys');
      replace(list, keys.length ? h('ul.cards', keys.map((k) => h('li.card',
        h('div.card-top', h('span.card-title', k.name), k.revoked_at ? h('span.chip.chip-cancelled', t('admin.revoked')) : null),
        h('p.card-step.muted', `${k.prefix}… · ${k.scopes.map((s) => tMaybe(`scope.${s}`, s)).join(' · ')} · ${fmtWhen(k.created_at)}`),
        k.revoked_at ? null : h('div.button-row', h('button.btn.btn-small.btn-danger-text', { type: 'button', onclick: () => revoke(k) },
          t('admin.revoke')))))) : emptyState(t('admin.no_keys')));
    } catch (err) {
      replace(list, errorState(errorText(err), load));
    }
  }

  async function create() {
    const name = textField(t('admin.field.name'), '', { maxlength: 200 });
    const scopes = checks(t('admin.field.scopes'), SCOPES, [], (s) => tMaybe(`scope.${s}`, s));
    const made = await submitDialog({
      title: t('admin.new_key'),
      body: h('div.fields', name.field, scopes.field),
      confirmLabel: t('admin.create'),
      collect: () => ({ name: name.input.value.trim(), scopes: scopes.value() }),
      send: (body) => session.post('/api-keys', body),
    });
    if (!made) return;
    const value = h('code.key-value', made.key);
    const copy = h('button.btn.btn-secondary', { type: 'button' }, icon('check'), h('span', t('admin.copy')));
    copy.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(made.key);
        toast(t('admin.copied'), 'ok');
      } catch {
        const range = document.createRange();
        range.selectNodeContents(value);
        getSelection().removeAllRanges();
        getSelection().addRange(range);
        toast(t('admin.copy_manually'), 'warn');
      }
    });
    replace(secret, h('div.notice-warn', { role: 'status' },
      h('p', h('strong', t('admin.key_once', { name: made.name }))), value, h('div.button-row', copy)));
    load();
  }

  async function revoke(k) {
    if (!(await confirmDialog(t('admin.revoke_title', { name: k.name }), t('admin.revoke_body'), { confirmLabel: t('admin.revoke'), danger: true }))) return;
    try {
      await session.del(`/api-keys/${k.id}`);
      toast(t('admin.revoked_named', { name: k.name }), 'ok');
      load();
    } catch (err) {
      toast(saveError(err), 'error');
    }
  }

  load();
  return cleanup;
}

// ------------------------------------------------------------------ calendars
export function calendarsView(el) {
  const list = h('div', loading());
  const add = h('a.btn.btn-primary', { href: '#/admin/calendars/new' }, icon('plus'), h('span', t('calendar.new')));
  const cleanup = shell(el, 'calendars', h('div.page-head-row', h('p.hint', t('admin.calendars_hint')), add), list);
  const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
  async function load() {
    try {
      const cals = await allOf('/calendars');
      replace(list, h('ul.cards', cals.map((c) => h('li.card',
        h('div.card-top', h('a.card-title', { href: `#/admin/calendars/${c.id}` }, calendarName(c)),
          c.built_in ? h('span.chip', t('admin.built_in')) : null),
        h('p.card-step.muted', `${c.timezone} · ${DAYS.filter((d) => (c.week[d] || []).length)
          .map((d) => `${t(`day.${d}`)} ${(c.week[d] || []).map((p) => p.join('–')).join(', ')}`).join('; ')}`),
        c.coverage_until ? h(c.coverage_short ? 'p.notice-warn' : 'p.hint', t(c.coverage_short ? 'admin.coverage_short' : 'admin.coverage',
          { date: fmtDate(c.coverage_until) })) : null,
        (c.upcoming || []).length ? h('p.card-step', t('admin.next_days', {
          days: c.upcoming.slice(0, 4).map((u) => `${fmtDate(u.date)} ${u.kind === 'holiday' ? tMaybe(`holiday.${u.name}`, t('admin.day_off')) : t('admin.make_up_day')}`).join('、'),
        })) : null))));
    } catch (err) {
      replace(list, errorState(errorText(err), load));
    }
  }
  load();
  return cleanup;
}

export function homeView() {
  navigate('/admin/people', { replace: true });
}
