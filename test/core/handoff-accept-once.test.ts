import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError } from '../../src/core/errors.js';
import { buildTeamBus } from './helpers.js';

function handedOff() {
  const bus = buildTeamBus();
  const checkpoint = bus.createCheckpoint('ezra', { summary: 'wip', state: { step: 3 } });
  const handoff = bus.handoff('ezra', 'timmy', checkpoint.checkpoint_id, 'over to you');
  return { bus, checkpoint, handoff };
}

test('the recipient accepts once; a second accept is a conflict', () => {
  const { bus, handoff } = handedOff();
  const accepted = bus.acceptHandoff('timmy', handoff.handoff_id);
  assert.equal(accepted.event_type, 'handoff_accepted');
  assert.equal(accepted.handoff_id, handoff.handoff_id);
  assert.equal(bus.isAccepted(handoff.handoff_id), true);
  assert.throws(() => bus.acceptHandoff('timmy', handoff.handoff_id), (error: unknown) => {
    assert.ok(error instanceof ConflictError);
    assert.match(error.message, /already accepted \(event 3\)/);
    return true;
  });
  assert.equal(bus.events.length, 3);
});

test('only the recipient may accept', () => {
  const { bus, handoff } = handedOff();
  assert.throws(() => bus.acceptHandoff('ezra', handoff.handoff_id), PermissionDeniedError);
  assert.throws(() => bus.acceptHandoff('bezalel', handoff.handoff_id), PermissionDeniedError);
  assert.equal(bus.isAccepted(handoff.handoff_id), false);
});

test('a handoff to a read or audit participant is refused', () => {
  const { bus, checkpoint } = handedOff();
  for (const recipient of ['bezalel', 'allegro']) {
    assert.throws(() => bus.handoff('ezra', recipient, checkpoint.checkpoint_id), (error: unknown) => {
      assert.ok(error instanceof InvalidInputError);
      assert.match(error.message, new RegExp(`cannot hand off to '${recipient}'.*must be able to continue the work`));
      return true;
    });
  }
  assert.equal(bus.events.length, 2);
});

test('a handoff needs a known recipient and an existing checkpoint', () => {
  const { bus, checkpoint } = handedOff();
  assert.throws(() => bus.handoff('ezra', 'ghost', checkpoint.checkpoint_id), NotFoundError);
  assert.throws(() => bus.handoff('ezra', 'timmy', 'no-such-checkpoint'), (error: unknown) => {
    assert.ok(error instanceof NotFoundError);
    assert.match(error.message, /checkpoint 'no-such-checkpoint' does not exist in mission 'mission-883'/);
    return true;
  });
  assert.throws(() => bus.acceptHandoff('timmy', 'no-such-handoff'), NotFoundError);
  assert.throws(() => bus.buildResumePacket('no-such-handoff'), NotFoundError);
});
