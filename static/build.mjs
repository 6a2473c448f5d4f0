// Baton PWA build: esbuild bundles (ESM + code splitting), index.html, manifest, icons,
// the service worker with a generated precache list and versioned cache name, and
// build-stats.json (gzip size of the first load). Deterministic: no timestamps.
import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { mkdirSync, readFileSync, rmSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { drawIcon, ICONS } from './scripts/icons.mjs';

const root = dirname(fileURLToPath(import.meta.url));
const src = join(root, 'src');
const dist = join(root, 'dist');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const BUDGET = 150 * 1024;

const THEME = '#0a4fa3';
const BACKGROUND = '#f3f5f8';

function checkDictionaries() {
  // Every string must exist in both languages.
  const load = (f) => readFileSync(join(src, 'i18n', f), 'utf8');
  const keys = (text) => new Set([...text.matchAll(/^\s*'([^']+)':/gm)].map((m) => m[1]));
  const en = keys(load('en.js'));
  const zh = keys(load('zh-CN.js'));
  const missingZh = [...en].filter((k) => !zh.has(k));
  const missingEn = [...zh].filter((k) => !en.has(k));
  if (missingZh.length || missingEn.length) {
    throw new Error(`i18n dictionaries differ.\n  missing in zh-CN: ${missingZh.join(', ')}\n  missing in en: ${missingEn.join(', ')}`);
  }
  // Every t('key') used in the sources must exist.
  const used = new Set();
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) {
        if (name !== 'i18n') walk(p);
      } else if (p.endsWith('.js')) {
        for (const m of readFileSync(p, 'utf8').matchAll(/\bt\(\s*'([^'$`]+)'/g)) used.add(m[1]);
      }
    }
  };
  walk(src);
  const unknown = [...used].filter((k) => !en.has(k));
  if (unknown.length) throw new Error(`i18n keys used but not defined: ${unknown.join(', ')}`);
  return en.size;
}

function files(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else out.push(p);
  }
  return out;
}

const gz = (buf) => gzipSync(buf, { level: 9 }).length;

async function build() {
  const keyCount = checkDictionaries();
  rmSync(dist, { recursive: true, force: true });
  mkdirSync(join(dist, 'icons'), { recursive: true });

  // 0. The barcode decoder's WebAssembly (zxing-wasm, reader build): served by us from /wasm/, never from a CDN, named
  // by its content. Loaded only when a scan needs it; large, so not precached (the service worker keeps it once used).
  const wasmBuf = readFileSync(createRequire(import.meta.url).resolve('zxing-wasm/reader/zxing_reader.wasm'));
  const wasmName = `zxing_reader-${createHash('sha256').update(wasmBuf).digest('hex').slice(0, 12)}.wasm`;
  mkdirSync(join(dist, 'wasm'), { recursive: true });
  writeFileSync(join(dist, 'wasm', wasmName), wasmBuf);
  const wasmUrl = `/wasm/${wasmName}`;

  const common = {
    bundle: true,
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    target: ['es2020', 'chrome90', 'safari15', 'firefox90'],
    logLevel: 'warning',
    metafile: true,
    absWorkingDir: root,
  };

  // 1. The dashboard's CSS (uPlot's), loaded only on the dashboard route.
  const dashCss = await esbuild.build({
    ...common,
    entryPoints: { dashboard: join(src, 'dashboard.css') },
    outdir: join(dist, 'assets'),
    entryNames: '[name]-[hash]',
  });
  const dashCssUrl = '/' + relative(dist, join(root, Object.keys(dashCss.metafile.outputs)[0]));

  // 2. The app: ESM with code splitting (leads, andon, dashboard + uPlot are lazy chunks).
  const app = await esbuild.build({
    ...common,
    entryPoints: { app: join(src, 'app.js'), styles: join(src, 'styles.css') },
    outdir: join(dist, 'assets'),
    entryNames: '[name]-[hash]',
    chunkNames: 'chunk-[hash]',
    splitting: true,
    format: 'esm',
    define: {
      __DASHBOARD_CSS__: JSON.stringify(dashCssUrl),
      __APP_VERSION__: JSON.stringify(pkg.version),
      __ZXING_WASM__: JSON.stringify(wasmUrl),
    },
  });
  const outputs = app.metafile.outputs;
  const rel = (p) => '/' + relative(dist, join(root, p)).split('\\').join('/');
  const entryJs = Object.keys(outputs).find((p) => outputs[p].entryPoint && outputs[p].entryPoint.endsWith('src/app.js'));
  const entryCss = Object.keys(outputs).find((p) => p.endsWith('.css') && outputs[p].entryPoint && outputs[p].entryPoint.endsWith('src/styles.css'));
  // The styles entry also emits an empty JS stub; drop it.
  for (const p of Object.keys(outputs)) {
    if (outputs[p].entryPoint && outputs[p].entryPoint.endsWith('src/styles.css') && p.endsWith('.js')) rmSync(join(root, p));
  }

  // Static import closure of the entry = what the first load needs.
  const firstLoad = new Set([entryJs]);
  const stack = [entryJs];
  while (stack.length) {
    const cur = stack.pop();
    for (const imp of outputs[cur].imports || []) {
      if (imp.kind === 'import-statement' && !firstLoad.has(imp.path)) {
        firstLoad.add(imp.path);
        stack.push(imp.path);
      }
    }
  }
  const preloads = [...firstLoad].filter((p) => p !== entryJs).sort();

  // 3. index.html
  let html = readFileSync(join(src, 'index.html'), 'utf8');
  html = html
    .replace('<!--STYLES-->', `<link rel="stylesheet" href="${rel(entryCss)}">`)
    .replace('<!--SCRIPTS-->', [
      `<script type="module" src="${rel(entryJs)}"></script>`,
      ...preloads.map((p) => `<link rel="modulepreload" href="${rel(p)}">`),
    ].join('\n'));
  writeFileSync(join(dist, 'index.html'), html);

  // 4. Icons and manifest.
  for (const icon of ICONS) writeFileSync(join(dist, icon.file), drawIcon(icon.size, icon.kind));
  const manifest = {
    id: '/',
    name: 'Baton',
    short_name: 'Baton',
    description: 'Work orders, tasks and the andon for teams on the move.',
    lang: 'en',
    dir: 'ltr',
    start_url: '/',
    scope: '/',
    display: 'standalone',
    orientation: 'any',
    theme_color: THEME,
    background_color: BACKGROUND,
    categories: ['business', 'productivity'],
    icons: [
      { src: '/icons/icon-192.png', sizes: '192x192', type: 'image/png', purpose: 'any' },
      { src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'any' },
      { src: '/icons/maskable-192.png', sizes: '192x192', type: 'image/png', purpose: 'maskable' },
      { src: '/icons/maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
    ],
    shortcuts: [
      { name: 'Inbox · 待办', short_name: 'Inbox', url: '/#/inbox', icons: [{ src: '/icons/icon-192.png', sizes: '192x192', type: 'image/png' }] },
      { name: 'Outbox · 待发送', short_name: 'Outbox', url: '/#/outbox', icons: [{ src: '/icons/icon-192.png', sizes: '192x192', type: 'image/png' }] },
    ],
  };
  writeFileSync(join(dist, 'manifest.webmanifest'), JSON.stringify(manifest, null, 2) + '\n');

  // 5. Service worker with the precache list (everything in dist, '/' for index.html).
  const shellFiles = files(dist).filter((p) => !p.endsWith('build-stats.json') && !p.startsWith(join(dist, 'wasm')));
  const hash = createHash('sha256');
  const precache = [];
  for (const p of shellFiles) {
    const url = '/' + relative(dist, p).split('\\').join('/');
    hash.update(url).update(readFileSync(p));
    precache.push(url === '/index.html' ? '/' : url);
  }
  precache.sort();
  const version = hash.digest('hex').slice(0, 12);
  await esbuild.build({
    ...common,
    entryPoints: [join(src, 'sw.js')],
    outfile: join(dist, 'sw.js'),
    format: 'iife',
    define: {
      __PRECACHE__: JSON.stringify(precache),
      __CACHE_VERSION__: JSON.stringify(version),
      __ZXING_WASM__: JSON.stringify(wasmUrl),
    },
  });

  // 6. build-stats.json: compressed size of the first load (JS + CSS).
  const first = [...firstLoad, entryCss].map((p) => {
    const buf = readFileSync(join(root, p));
    return { file: rel(p), bytes: buf.length, gzip: gz(buf) };
  });
  const lazy = Object.keys(outputs)
    .filter((p) => !firstLoad.has(p) && p !== entryCss && existsSafe(join(root, p)))
    .map((p) => {
      const buf = readFileSync(join(root, p));
      return { file: rel(p), bytes: buf.length, gzip: gz(buf) };
    });
  const dcss = readFileSync(join(dist, dashCssUrl.slice(1)));
  lazy.push({ file: dashCssUrl, bytes: dcss.length, gzip: gz(dcss) });
  const swBuf = readFileSync(join(dist, 'sw.js'));
  const total = first.reduce((s, f) => s + f.gzip, 0);
  const stats = {
    version: pkg.version,
    cache_version: version,
    first_load: { files: first, gzip_bytes: total, budget_bytes: BUDGET, within_budget: total < BUDGET },
    lazy: lazy.sort((a, b) => a.file.localeCompare(b.file)),
    service_worker: { bytes: swBuf.length, gzip: gz(swBuf) },
    barcode_decoder: { file: wasmUrl, bytes: wasmBuf.length, gzip: gz(wasmBuf), precached: false },
    precache: precache.length,
    i18n_keys: keyCount,
  };
  writeFileSync(join(dist, 'build-stats.json'), JSON.stringify(stats, null, 2) + '\n');
  console.log(`Baton build ${version}: first load ${(total / 1024).toFixed(1)} KB gzip (budget ${BUDGET / 1024} KB), ${precache.length} files precached, ${keyCount} strings x 2 languages.`);
  console.log(`Barcode decoder ${wasmUrl}: ${(wasmBuf.length / 1024).toFixed(0)} KB (${(stats.barcode_decoder.gzip / 1024).toFixed(0)} KB gzip), loaded on a scan without BarcodeDetector, not precached.`);
  // Lazy views that carry a library of their own, by name: the flow designer (with dagre).
  for (const [name, source] of [['Flow designer', 'src/views/designer.js']]) {
    const out = Object.keys(outputs).find((p) => !firstLoad.has(p) && Object.keys(outputs[p].inputs || {}).some((i) => i.endsWith(source)));
    if (!out) continue;
    const buf = readFileSync(join(root, out));
    console.log(`${name} chunk ${rel(out)}: ${(buf.length / 1024).toFixed(1)} KB (${(gz(buf) / 1024).toFixed(1)} KB gzip), lazy.`);
  }
  if (total >= BUDGET) {
    console.error('First-load size is over budget.');
    process.exit(1);
  }
}

function existsSafe(p) {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}

build().catch((err) => {
  console.error(err.message || err);
  process.exit(1);
});
