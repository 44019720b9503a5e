// Prints the size of the built client (dist/index.js, the whole module: it
// imports nothing at run time), raw and gzipped at level 9, as a browser
// would download it from a server that compresses, and minified by esbuild
// (a development dependency, for this measurement only) as an app's bundler
// would.
//   npm run size        (builds first)

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = readFileSync(join(root, 'dist', 'index.js'), 'utf8');

const kib = (n) => `${(n / 1024).toFixed(1)} KiB (${n} bytes)`;
const gz = (s) => gzipSync(s, { level: 9 }).length;

console.log(`dist/index.js              ${kib(Buffer.byteLength(source))}`);
console.log(`dist/index.js, gzip -9     ${kib(gz(source))}`);

let esbuild = null;
try {
  esbuild = createRequire(join(root, 'package.json'))('esbuild');
} catch {
  console.log('minified                   not measured: esbuild is not installed (not minified)');
}
if (esbuild) {
  const { code } = await esbuild.transform(source, { minify: true, format: 'esm', target: 'es2022' });
  console.log(`minified                   ${kib(Buffer.byteLength(code))}`);
  console.log(`minified, gzip -9          ${kib(gz(code))}`);
}
