import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidInputError } from '../../src/core/errors.js';
import { MissionBus } from '../../src/core/mission-bus.js';
import { buildTeamBus } from './helpers.js';

const bad: Array<[string, (bus: MissionBus) => unknown]> = [
  ['payload that is an array', (bus) => bus.publish('ezra', 't', [] as never)],
  ['payload that is a string', (bus) => bus.publish('ezra', 't', 'x' as never)],
  ['payload with undefined', (bus) => bus.publish('ezra', 't', { a: undefined } as never)],
  ['payload with NaN', (bus) => bus.publish('ezra', 't', { a: Number.NaN })],
  ['payload with a Date', (bus) => bus.publish('ezra', 't', { a: new Date() } as never)],
  ['empty topic', (bus) => bus.publish('ezra', '', {})],
  ['topic with a newline', (bus) => bus.publish('ezra', 'a\nb', {})],
  ['oversize topic', (bus) => bus.publish('ezra', 'x'.repeat(257), {})],
  ['oversize payload', (bus) => bus.publish('ezra', 't', { blob: 'x'.repeat(300 * 1024) })],
  ['payload nested too deep', (bus) => bus.publish('ezra', 't', deep(100))],
  ['state that is null', (bus) => bus.createCheckpoint('ezra', { summary: 's', state: null as never })],
  ['artifacts that are not strings', (bus) => bus.createCheckpoint('ezra', { summary: 's', state: {}, artifacts: [1] as never })],
  ['unknown role', (bus) => bus.registerParticipant('x', 'owner' as never)],
  ['empty participant name', (bus) => bus.registerParticipant('', 'read')],
  ['oversize participant name', (bus) => bus.registerParticipant('n'.repeat(129), 'read')],
];

for (const [what, attempt] of bad) {
  test(`refuses ${what} with InvalidInputError and changes nothing`, () => {
    const bus = buildTeamBus();
    const before = JSON.stringify(bus.toDict());
    assert.throws(() => attempt(bus), InvalidInputError);
    assert.equal(JSON.stringify(bus.toDict()), before);
  });
}

test('errors name the field and the limit', () => {
  const bus = buildTeamBus();
  assert.throws(() => bus.publish('ezra', 't', { blob: 'x'.repeat(300 * 1024) }), (error: unknown) => {
    assert.ok(error instanceof InvalidInputError);
    assert.match(error.message, /invalid publish: payload: payload is \d+ bytes; the limit is 262144/);
    assert.deepEqual((error.details.issues as Array<{ path: string }>)[0]!.path, 'payload');
    return true;
  });
});

test('limits are configurable', () => {
  const bus = new MissionBus('m', { limits: { maxPayloadBytes: 16 } });
  bus.registerParticipant('a', 'write');
  bus.publish('a', 't', { ok: 1 });
  assert.throws(() => bus.publish('a', 't', { long: 'more than sixteen bytes' }), InvalidInputError);
});

test('hostile nesting is refused without overflowing the stack', () => {
  const bus = buildTeamBus();
  assert.throws(() => bus.publish('ezra', 't', deep(100_000)), InvalidInputError);
});

function deep(levels: number): Record<string, never> {
  let value: Record<string, unknown> = {};
  for (let i = 0; i < levels; i++) value = { a: value };
  return value as Record<string, never>;
}
