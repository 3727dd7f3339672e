// Builds the dashboard into dist/: app-[hash].js and app-[hash].css from
// src/main.ts (Leaflet, geoman, uPlot and the world basemap bundled in),
// and index.html pointing at them. The hashed names let the hub serve the
// bundles as immutable; index.html is the one file whose name stays.
import * as esbuild from 'esbuild';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

const dist = 'dist';

// Start clean, keeping the .gitkeep that lets Go embed an unbuilt folder.
await mkdir(dist, { recursive: true });
for (const f of await readdir(dist)) if (f !== '.gitkeep') await rm(path.join(dist, f), { recursive: true, force: true });

const result = await esbuild.build({
  entryPoints: { app: 'src/main.ts' },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  outdir: dist,
  entryNames: '[name]-[hash]',
  assetNames: 'assets/[name]-[hash]',
  loader: { '.png': 'file', '.svg': 'file' },
  metafile: true,
  legalComments: 'linked',
  logLevel: 'warning',
});

const outs = Object.keys(result.metafile.outputs).map((o) => path.relative(dist, o));
const js = outs.find((o) => /^app-.*\.js$/.test(o));
const css = outs.find((o) => /^app-.*\.css$/.test(o));
const html = (await readFile('index.html', 'utf8')).replace('href="app.css"', `href="${css}"`).replace('src="app.js"', `src="${js}"`);
await writeFile(path.join(dist, 'index.html'), html);
const kib = async (f) => `${f} ${((await stat(path.join(dist, f))).size / 1024).toFixed(0)} KiB`;
console.log(`dashboard built: ${(await Promise.all([js, css].map(kib))).join(', ')}`);
