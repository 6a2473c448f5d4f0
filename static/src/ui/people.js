// Picking a person by name: a text field whose suggestions come from the people directory (GET /people?q=) as
// you type. The API takes a login (or an id), so the value is the login of the person picked, or what was typed.
import { h, uid } from './dom.js';
import { t } from '../i18n.js';
import { get } from '../session.js';

const label = (p) => `${p.name} (${p.login})`;

/** {field, input, value()}: value() is a login, or the text typed when it names nobody in the suggestions. */
export function personField(text, { initial = null, hint = null } = {}) {
  const id = uid('person');
  const listId = uid('people');
  const input = h('input.input', { id, list: listId, type: 'text', autocomplete: 'off', autocapitalize: 'none', spellcheck: false });
  const list = h('datalist', { id: listId });
  const known = new Map();
  if (initial) {
    input.value = label(initial);
    known.set(input.value, initial);
  }
  let timer = null;
  let asked = '';
  const suggest = async () => {
    const q = input.value.trim();
    if (q === asked || known.has(q)) return;
    asked = q;
    try {
      const found = await get(`/people?q=${encodeURIComponent(q)}&limit=20`);
      if (asked !== q) return;
      list.replaceChildren(...found.items.map((p) => {
        known.set(label(p), p);
        return h('option', { value: label(p) }, p.department || '');
      }));
    } catch {
      /* offline or refused: typing a login still works */
    }
  };
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(suggest, 200);
  });
  input.addEventListener('focus', suggest, { once: true });
  const field = h('div.field', h('label', { for: id }, text), input, list, h('p.hint', hint || t('people.pick_hint')));
  const value = () => {
    const typed = input.value.trim();
    if (!typed) return '';
    if (known.has(typed)) return known.get(typed).login;
    const inParens = /\(([^()\s]+)\)$/.exec(typed);
    return inParens ? inParens[1] : typed;
  };
  return { field, input, value };
}
