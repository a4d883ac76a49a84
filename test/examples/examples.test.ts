import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';

// dist/test/examples/ → the repository's examples/ (the YAML files are not compiled, so they stay at the root).
const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));
const FILES = readdirSync(EXAMPLES).filter((f) => /\.(ya?ml|json)$/.test(f)).sort();

describe('examples/', () => {
  it('holds an example for each service type', () => {
    for (const name of ['forward.yaml', 'proxy.yaml', 'gateway.yaml', 'tidegate.yaml']) {
      assert.ok(FILES.includes(name), name);
    }
  });

  for (const file of FILES) {
    it(`tidegate check accepts ${file}`, async () => {
      const run = await runCli(['check', '--config', `${EXAMPLES}${file}`]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /is valid: [1-9]\d* service\(s\)/);
    });
  }
});
