// Capture in the field (docs/design.md §15): the form controls of `photos`, `signature`, `barcode` and `location`
// fields. Each answers {node, control, get, check?, files?}: `get` is the value sent as it is (a barcode, a position);
// photos and a signature are files, uploaded before the completion by the outbox (`files`), which puts their
// attachment ids in the form's data, online or offline alike.
import { h, icon, replace, uid } from './dom.js';
import { t, tMaybe } from '../i18n.js';
import { downscalePhoto, MAX_UPLOAD } from './photo.js';
import { positionView } from './captured.js';

const MAX_PHOTOS = 20; // the server's ceiling (app/flows/forms.py)
const LOW_ACCURACY_M = 100;

/** A field's name for what a barcode is checked against: a reference of the work order, or a key of its data. */
export function matchLabel(key) {
  return tMaybe(`wo.${key}`, null) || tMaybe(`datakey.${key}`, key);
}

// Tell the form something changed (it keeps what the person entered, and lets go of an old message).
const changed = (el) => el.dispatchEvent(new Event('change', { bubbles: true }));

function heading(f, ui) {
  return h('span.label-text', { id: `${ui.id}-label` }, ui.label, ui.req);
}

// ---------------------------------------------------------------- photos
function photosField(f, ui) {
  const most = Math.min(Number(f.max) || MAX_PHOTOS, MAX_PHOTOS);
  const least = Math.max(Number(f.min) || 0, f.required ? 1 : 0);
  const items = []; // {blob, url, name}
  const take = h('input.file-input', { id: uid('take'), type: 'file', accept: 'image/*', capture: 'environment', 'aria-describedby': ui.errId });
  const choose = h('input.file-input', { id: ui.id, type: 'file', accept: 'image/*', multiple: true, 'aria-describedby': ui.errId });
  const buttons = h('div.button-row',
    h('label.btn.btn-secondary.photo-btn', { for: take.id }, icon('camera'), h('span', t('photos.take'))),
    h('label.btn.btn-secondary.photo-btn', { for: choose.id }, h('span', t('photos.choose'))));
  const list = h('ul.capture-thumbs');
  const status = h('p.hint.capture-status', { role: 'status' });
  const count = h('span.muted.capture-count');
  const node = h('div.field.capture-photos', { role: 'group', 'aria-labelledby': `${ui.id}-label` },
    h('div.capture-head', heading(f, ui), count), buttons, take, choose, h('p.hint', t('photo.hint')), list, status, ui.err);

  function draw() {
    count.textContent = t('photos.count', { n: items.length, max: most });
    buttons.hidden = items.length >= most;
    replace(list, items.map((item, i) => h('li.capture-thumb',
      h('img', { src: item.url, alt: t('photos.nth', { n: i + 1 }) }),
      h('button.capture-remove', {
        type: 'button',
        'aria-label': t('photos.remove_nth', { n: i + 1 }),
        onclick: () => {
          URL.revokeObjectURL(item.url);
          items.splice(items.indexOf(item), 1);
          status.textContent = '';
          draw();
          changed(node);
        },
      }, '×'))));
  }

  async function add(input) {
    const picked = [...(input.files || [])];
    input.value = '';
    if (!picked.length) return;
    const room = most - items.length;
    status.textContent = t('photo.processing');
    const problems = [];
    for (const file of picked.slice(0, room)) {
      try {
        const blob = await downscalePhoto(file);
        if (blob.size > MAX_UPLOAD) throw Object.assign(new Error('big'), { code: 'file_too_large' });
        items.push({ blob, url: URL.createObjectURL(blob), name: blob === file && file.name ? file.name : `photo-${items.length + 1}.jpg` });
      } catch (e) {
        problems.push(e.code === 'file_too_large' ? t('err.file_too_large') : t('photo.unreadable'));
      }
    }
    if (picked.length > room) problems.push(t('photos.too_many', { max: most }));
    status.textContent = problems.join(' ');
    draw();
    changed(node);
  }
  take.addEventListener('change', () => add(take));
  choose.addEventListener('change', () => add(choose));
  draw();
  return {
    node,
    control: choose,
    get: () => undefined,
    check: () => {
      if (!items.length && !f.required) return null;
      if (items.length < least) return least === 1 ? t('photos.at_least_one') : t('photos.at_least', { n: least });
      return null;
    },
    files: async () => items.map((item) => ({ field: f.name, multi: true, blob: item.blob, name: item.name })),
  };
}

// ---------------------------------------------------------------- signature
function signatureField(f, ui) {
  const canvas = h('canvas.signature-canvas', { id: ui.id, role: 'img', 'aria-label': t('signature.canvas_label'), 'aria-describedby': ui.errId });
  const undo = h('button.btn.btn-ghost', { type: 'button', disabled: true }, t('signature.undo'));
  const clear = h('button.btn.btn-ghost', { type: 'button', disabled: true }, t('signature.clear'));
  const status = h('p.hint', { role: 'status' }, t('signature.hint'));
  const node = h('div.field.capture-signature', { role: 'group', 'aria-labelledby': `${ui.id}-label` },
    heading(f, ui), h('div.signature-pad', canvas), h('div.button-row.signature-actions', undo, clear), status, ui.err);
  let pad = null;

  const refresh = () => {
    const empty = !pad || pad.isEmpty();
    undo.disabled = empty;
    clear.disabled = empty;
    node.classList.toggle('is-signed', !empty);
  };
  // The drawing surface follows the screen (and its pixel ratio): redraw what was signed at the new size.
  const fit = () => {
    if (!pad || !canvas.offsetWidth) return;
    const ratio = Math.max(window.devicePixelRatio || 1, 1);
    const strokes = pad.toData();
    canvas.width = Math.round(canvas.offsetWidth * ratio);
    canvas.height = Math.round(canvas.offsetHeight * ratio);
    canvas.getContext('2d').scale(ratio, ratio);
    pad.clear();
    if (strokes.length) pad.fromData(strokes);
  };
  // signature_pad (its own small chunk) loads with the first signature field shown.
  import('signature_pad').then(({ default: SignaturePad }) => {
    pad = new SignaturePad(canvas, { backgroundColor: 'rgb(255, 255, 255)', penColor: '#111827', minWidth: 0.8, maxWidth: 2.6 });
    pad.addEventListener('endStroke', () => {
      refresh();
      changed(node);
    });
    if ('ResizeObserver' in window) new ResizeObserver(fit).observe(canvas);
    fit();
    node.dataset.ready = 'true';
  }).catch(() => {
    status.textContent = t('signature.unavailable');
  });
  undo.addEventListener('click', () => {
    const strokes = pad.toData();
    strokes.pop();
    pad.fromData(strokes);
    refresh();
    changed(node);
  });
  clear.addEventListener('click', () => {
    pad.clear();
    refresh();
    changed(node);
  });
  return {
    node,
    control: canvas,
    get: () => undefined,
    check: () => (f.required && (!pad || pad.isEmpty()) ? t('signature.required') : null),
    files: async () => {
      if (!pad || pad.isEmpty()) return [];
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
      return blob ? [{ field: f.name, multi: false, blob, name: 'signature.png' }] : [];
    },
  };
}

// ---------------------------------------------------------------- barcode
const FORMAT_NAMES = {
  aztec: 'Aztec', codabar: 'Codabar', code_39: 'Code 39', code_93: 'Code 93', code_128: 'Code 128', data_matrix: 'Data Matrix',
  ean_8: 'EAN-8', ean_13: 'EAN-13', itf: 'ITF', pdf417: 'PDF417', qr_code: 'QR', upc_a: 'UPC-A', upc_e: 'UPC-E',
};

function barcodeField(f, ui) {
  const readId = uid('read');
  const input = h('input.input', {
    id: ui.id, name: f.name, type: 'text', autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false',
    enterkeyhint: 'done', maxlength: 2000, required: Boolean(f.required), 'aria-describedby': `${ui.errId} ${readId}`,
  });
  input.value = ui.values[f.name] ?? '';
  const scan = h('button.btn.btn-secondary.scan-btn', { type: 'button' }, icon('camera'), h('span', t('barcode.scan')));
  const read = h('p.barcode-read', { id: readId, role: 'status', hidden: true });
  const hint = f.must_match ? t('barcode.hint_checked', { what: matchLabel(f.must_match) }) : t('barcode.hint');
  const node = h('div.field.capture-barcode', h('label', { for: ui.id }, ui.label, ui.req), h('div.barcode-row', input, scan),
    h('p.hint', hint), read, ui.err);
  const expected = () => (f.must_match && ui.context && ui.context.expected ? ui.context.expected(f.must_match) : undefined);

  // What was read, and whether it is what the work order says (the server checks again on completion).
  const say = (text, format, engine) => {
    read.hidden = false;
    read.dataset.engine = engine || '';
    read.classList.remove('is-warning');
    const want = expected();
    const wrong = want !== undefined && want !== null && want !== '' && String(want).trim() !== text.trim();
    replace(read, t('barcode.read', { text, format: FORMAT_NAMES[format] || format || '' }));
    if (wrong) {
      read.classList.add('is-warning');
      read.append(h('br'), t('barcode.mismatch', { what: matchLabel(f.must_match) }));
    }
  };
  scan.addEventListener('click', async () => {
    scan.disabled = true;
    try {
      const { scanBarcode } = await import('./scanner.js');
      const found = await scanBarcode({ formats: f.formats, title: ui.label });
      if (found) {
        input.value = found.text;
        say(found.text, found.format, found.engine);
        input.dispatchEvent(new Event('input', { bubbles: true }));
      }
    } catch {
      read.hidden = false;
      read.textContent = t('scanner.unavailable');
    } finally {
      scan.disabled = false;
    }
  });
  input.addEventListener('input', (e) => {
    if (e.isTrusted) read.hidden = true; // typed by hand: what the camera read no longer stands
  });
  return { node, control: input, get: () => input.value.trim() || undefined };
}

// ---------------------------------------------------------------- location
function locationField(f, ui) {
  const given = ui.values[f.name];
  let pos = given && Number.isFinite(given.lat) && Number.isFinite(given.lng) ? given : null;
  const use = h('button.btn.btn-secondary.location-btn', { id: ui.id, type: 'button', 'aria-describedby': ui.errId });
  const drop = h('button.btn.btn-ghost', { type: 'button' }, t('location.clear'));
  const shown = h('p.location-value', { role: 'status' });
  const node = h('div.field.capture-location', { role: 'group', 'aria-labelledby': `${ui.id}-label` },
    heading(f, ui), h('p.hint', t('location.hint')), h('div.button-row', use, drop), shown, ui.err);

  const draw = (message) => {
    replace(use, pos ? t('location.again') : t('location.use'));
    drop.hidden = !pos;
    shown.classList.toggle('is-warning', Boolean(message) || Boolean(pos && pos.accuracy > LOW_ACCURACY_M));
    if (message) replace(shown, message);
    else if (pos) replace(shown, positionView(pos), pos.accuracy > LOW_ACCURACY_M ? h('span.capture-note', t('location.low_accuracy')) : null);
    else replace(shown);
  };
  // Only on a tap: the browser asks the person, and a refusal leaves the field empty.
  use.addEventListener('click', () => {
    if (!('geolocation' in navigator)) {
      draw(t('location.unsupported'));
      return;
    }
    use.disabled = true;
    replace(shown, t('location.finding'));
    navigator.geolocation.getCurrentPosition((p) => {
      use.disabled = false;
      const round = (n, places) => Math.round(n * 10 ** places) / 10 ** places;
      pos = { lat: round(p.coords.latitude, 6), lng: round(p.coords.longitude, 6), accuracy: round(Math.max(p.coords.accuracy || 0, 0), 1) };
      draw();
      changed(node);
    }, (err) => {
      use.disabled = false;
      pos = null;
      draw(err.code === 1 ? t('location.denied') : err.code === 3 ? t('location.timeout') : t('location.unavailable'));
      changed(node);
    }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 0 });
  });
  drop.addEventListener('click', () => {
    pos = null;
    draw();
    changed(node);
  });
  draw();
  return { node, control: use, get: () => (pos ? { ...pos } : undefined) };
}

// Photos and a signature are files: only a form that uploads them (the completion of a task) offers them.
export const FILE_TYPES = ['photos', 'signature'];

/** The control of a capture field. `ui`: {id, errId, label, req, err, values, context: {expected(key)}}. */
export function captureField(f, ui) {
  if (f.type === 'photos') return photosField(f, ui);
  if (f.type === 'signature') return signatureField(f, ui);
  if (f.type === 'barcode') return barcodeField(f, ui);
  return locationField(f, ui);
}
