// The committed web/static/rampart.js must be exactly what `npm run build`
// produces from src, so the Go server serves the current client.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jsRoot, repoRoot, tempDir } from './helpers/server.mjs';

test('web/static/rampart.js matches a fresh build', () => {
  const tmp = tempDir('rampart-build-');
  try {
    execFileSync(process.execPath, [join(jsRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', jsRoot, '--outDir', tmp.dir],
      { stdio: 'inherit' });
    const fresh = readFileSync(join(tmp.dir, 'index.js'), 'utf8');
    const committed = readFileSync(join(repoRoot, 'web', 'static', 'rampart.js'), 'utf8');
    assert.ok(fresh === committed, 'web/static/rampart.js is stale: run `npm run build` in js/ and commit it');
  } finally {
    tmp.cleanup();
  }
});

test('the built module has no runtime imports', () => {
  const committed = readFileSync(join(repoRoot, 'web', 'static', 'rampart.js'), 'utf8');
  assert.doesNotMatch(committed, /^\s*import\s/m);
  assert.doesNotMatch(committed, /sourceMappingURL/);
});
