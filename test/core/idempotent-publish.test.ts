import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConflictError } from '../../src/core/errors.js';
import { buildTeamBus } from './helpers.js';

test('a publish with an existing message_id returns the existing event, no duplicate', () => {
  const bus = buildTeamBus();
  const first = bus.publish('ezra', 'progress', { pct: 50 }, { messageId: 'retry-1' });
  const again = bus.publish('ezra', 'progress', { pct: 50 }, { messageId: 'retry-1' });
  assert.equal(again, first);
  assert.equal(bus.events.length, 1);
  assert.equal(bus.getEvent('retry-1'), first);
});

test('another sender reusing a message_id is a conflict', () => {
  const bus = buildTeamBus();
  bus.publish('ezra', 'progress', {}, { messageId: 'mine' });
  assert.throws(() => bus.publish('timmy', 'progress', {}, { messageId: 'mine' }), ConflictError);
  assert.equal(bus.events.length, 1);
});
