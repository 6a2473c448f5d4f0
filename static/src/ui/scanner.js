// The camera in a sheet, reading one barcode (docs/design.md §15). Loaded only when someone taps "Scan".
//
// The browser's own BarcodeDetector reads when it exists and knows every format the field asks for (Android
// Chrome, Safari on recent iPhones); elsewhere (desktop Linux and Windows Chromium, Firefox) the zxing-cpp decoder
// compiled to WebAssembly (npm `zxing-wasm`, reader build) does, from its own lazy chunk. Its .wasm file is served
// by us from /wasm/ (copied there by static/build.mjs), never from a CDN; the service worker keeps it once used, so
// scanning works offline after the first scan. Typing the code stays possible whatever happens here.
import { h } from './dom.js';
import { t } from '../i18n.js';

/* global __ZXING_WASM__ */
const ZXING_WASM = __ZXING_WASM__;
const SCAN_EVERY_MS = 150;
const MAX_FRAME_EDGE = 1280;

// The formats as BarcodeDetector names them (the form's words) and as zxing-cpp does.
const ZXING_NAMES = {
  aztec: 'Aztec', codabar: 'Codabar', code_39: 'Code39', code_93: 'Code93', code_128: 'Code128', data_matrix: 'DataMatrix',
  ean_8: 'EAN8', ean_13: 'EAN13', itf: 'ITF', pdf417: 'PDF417', qr_code: 'QRCode', upc_a: 'UPCA', upc_e: 'UPCE',
};
const FROM_ZXING = Object.fromEntries(Object.entries(ZXING_NAMES).map(([ours, theirs]) => [theirs, ours]));

/** The browser's detector, when it reads every wanted format; else null. */
async function nativeDetector(formats) {
  if (!('BarcodeDetector' in globalThis)) return null;
  try {
    const supported = await globalThis.BarcodeDetector.getSupportedFormats();
    const wanted = formats && formats.length ? formats : supported;
    if (!wanted.length || !wanted.every((f) => supported.includes(f))) return null;
    const detector = new globalThis.BarcodeDetector({ formats: wanted });
    return {
      engine: 'native',
      detect: async (video) => (await detector.detect(video)).map((b) => ({ text: b.rawValue, format: b.format })),
    };
  } catch {
    return null;
  }
}

let zxing = null;

/** zxing-cpp in WebAssembly, its .wasm fetched from our own origin. */
async function wasmDetector(formats) {
  if (!zxing) {
    zxing = import('zxing-wasm/reader').then(async (mod) => {
      await mod.prepareZXingModule({
        overrides: { locateFile: (path, prefix) => (path.endsWith('.wasm') ? new URL(ZXING_WASM, location.origin).href : prefix + path) },
        fireImmediately: true,
      });
      return mod;
    });
    zxing.catch(() => {
      zxing = null; // offline before the decoder was ever fetched: try again next time
    });
  }
  const mod = await zxing;
  const options = { tryHarder: true, maxNumberOfSymbols: 1 };
  const names = (formats || []).map((f) => ZXING_NAMES[f]).filter(Boolean);
  if (names.length) options.formats = names;
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  return {
    engine: 'zxing',
    detect: async (video) => {
      const w = video.videoWidth;
      const hgt = video.videoHeight;
      if (!w || !hgt) return [];
      const scale = Math.min(1, MAX_FRAME_EDGE / Math.max(w, hgt));
      canvas.width = Math.round(w * scale);
      canvas.height = Math.round(hgt * scale);
      ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
      const found = await mod.readBarcodes(ctx.getImageData(0, 0, canvas.width, canvas.height), options);
      return found.filter((r) => r.isValid && r.text).map((r) => ({ text: r.text, format: FROM_ZXING[r.format] || r.format }));
    },
  };
}

/** The detector this browser reads `formats` with. */
export async function pickDetector(formats) {
  return (await nativeDetector(formats)) || wasmDetector(formats);
}

/**
 * Open the camera in a sheet and read one barcode. Resolves {text, format, engine} once read, or null when the
 * person closes the sheet (the camera is always released).
 */
export function scanBarcode({ formats, title } = {}) {
  return new Promise((resolve) => {
    const video = h('video.scanner-video', { autoplay: true, props: { muted: true, playsInline: true } });
    const status = h('p.scanner-status', { role: 'status' }, t('scanner.starting'));
    const cancel = h('button.btn.btn-secondary.btn-block', { type: 'button' }, t('scanner.cancel'));
    const dlg = h('dialog.dialog.scanner', { 'aria-label': title || t('barcode.scan') },
      h('h2.dialog-title', title || t('barcode.scan')),
      h('div.scanner-frame', video, h('div.scanner-aim', { 'aria-hidden': 'true' })),
      status, h('p.hint', t('scanner.hint')), cancel);
    let stream = null;
    let stopped = false;
    let timer = null;
    const finish = (result) => {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      if (stream) stream.getTracks().forEach((track) => track.stop());
      dlg.close();
      dlg.remove();
      resolve(result);
    };
    cancel.addEventListener('click', () => finish(null));
    dlg.addEventListener('cancel', (e) => {
      e.preventDefault();
      finish(null);
    });
    document.body.append(dlg);
    dlg.showModal();
    cancel.focus();

    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      status.textContent = t('scanner.no_camera');
      return;
    }
    // The camera and the decoder start together; either failing says why, and typing stays possible.
    const camera = navigator.mediaDevices.getUserMedia({
      video: { facingMode: { ideal: 'environment' }, width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false,
    });
    const reader = pickDetector(formats);
    camera.then(async (media) => {
      stream = media;
      if (stopped) {
        media.getTracks().forEach((track) => track.stop());
        return;
      }
      video.srcObject = media;
      await video.play().catch(() => {});
      let detector;
      try {
        detector = await reader;
      } catch {
        status.textContent = t('scanner.decoder_unavailable');
        return;
      }
      dlg.dataset.engine = detector.engine;
      status.textContent = t('scanner.looking');
      const tick = async () => {
        if (stopped) return;
        try {
          const [hit] = await detector.detect(video);
          if (hit) {
            finish({ ...hit, engine: detector.engine });
            return;
          }
        } catch {
          /* a frame that could not be read: try the next one */
        }
        timer = setTimeout(tick, SCAN_EVERY_MS);
      };
      tick();
    }, (err) => {
      reader.catch(() => {});
      status.textContent = err && (err.name === 'NotAllowedError' || err.name === 'SecurityError') ? t('scanner.denied') : t('scanner.no_camera');
    });
  });
}
