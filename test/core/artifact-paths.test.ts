import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidInputError } from '../../src/core/errors.js';
import { buildTeamBus } from './helpers.js';

const sha = 'a'.repeat(64);

test('checkpoint files must stay inside the workspace', () => {
  for (const path of ['../etc/passwd', '/etc/passwd', 'a/../../b', 'a//b', './a', 'a\\b', 'a\u0000b', 'a/.', '']) {
    const bus = buildTeamBus();
    assert.throws(
      () => bus.run('ezra', { kind: 'checkpoint', summary: 's', state: {}, files: [{ path, size: 1, sha256: sha }] }),
      InvalidInputError,
      JSON.stringify(path),
    );
    assert.equal(bus.events.length, 0);
  }
  const bus = buildTeamBus();
  const event = bus.run('ezra', { kind: 'checkpoint', summary: 's', state: {}, files: [{ path: 'src/a b/ü.ts', size: 1, sha256: sha }] });
  assert.equal(event.event_type === 'checkpoint' && event.files![0]!.path, 'src/a b/ü.ts');
});
