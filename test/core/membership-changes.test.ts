import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConflictError, NotFoundError, PermissionDeniedError } from '../../src/core/errors.js';
import { buildTeamBus } from './helpers.js';

test('registering a taken name is a conflict, never a silent overwrite', () => {
  const bus = buildTeamBus();
  assert.throws(() => bus.registerParticipant('ezra', 'lead'), (error: unknown) => {
    assert.ok(error instanceof ConflictError);
    assert.match(error.message, /'ezra' is already in mission 'mission-883' with role write; use changeRole/);
    return true;
  });
  assert.equal(bus.participants.ezra!.role, 'write');
});

test('a lead changes a role, and the change is recorded in the stream', () => {
  const bus = buildTeamBus();
  const event = bus.changeRole('timmy', 'bezalel', 'write');
  assert.equal(event.event_type, 'role_changed');
  assert.equal(event.previous_role, 'read');
  assert.equal(event.role, 'write');
  assert.equal(event.sender, 'timmy');
  assert.equal(bus.participants.bezalel!.role, 'write');
  assert.equal(bus.allowed('bezalel', 'publish'), true);
  assert.deepEqual(bus.events.map((e) => e.sequence), [1]);
});

test('only a lead may change roles or add participants', () => {
  const bus = buildTeamBus();
  assert.throws(() => bus.changeRole('ezra', 'bezalel', 'lead'), (error: unknown) => {
    assert.ok(error instanceof PermissionDeniedError);
    assert.match(error.message, /participant 'ezra' \(role write\) may not manage members/);
    return true;
  });
  assert.throws(() => bus.addParticipant('allegro', 'mallory', 'lead'), PermissionDeniedError);
  assert.equal(bus.participants.bezalel!.role, 'read');
  assert.equal(bus.participants.mallory, undefined);
  assert.equal(bus.events.length, 0);
});

test('a lead adds a participant through the stream', () => {
  const bus = buildTeamBus();
  const joined = bus.addParticipant('timmy', 'gimli', 'write', { model: 'claude' });
  assert.equal(joined.event_type, 'participant_joined');
  assert.deepEqual(joined.participant, { name: 'gimli', role: 'write', metadata: { model: 'claude' } });
  assert.equal(bus.allowed('gimli', 'checkpoint'), true);
  assert.throws(() => bus.addParticipant('timmy', 'gimli', 'read'), ConflictError);
});

test('changing the role of an unknown participant is not found; to the same role a conflict', () => {
  const bus = buildTeamBus();
  assert.throws(() => bus.changeRole('timmy', 'ghost', 'write'), NotFoundError);
  assert.throws(() => bus.changeRole('timmy', 'ezra', 'write'), ConflictError);
});

test('every decision, allowed or denied, lands in the audit log', () => {
  const bus = buildTeamBus();
  bus.publish('ezra', 'progress', { pct: 10 });
  assert.throws(() => bus.publish('bezalel', 'progress', {}), PermissionDeniedError);
  assert.throws(() => bus.publish('stranger', 'progress', {}), PermissionDeniedError);
  bus.authorizeRead('bezalel');
  assert.deepEqual(
    bus.auditLog.map((r) => [r.participant, r.role, r.action, r.outcome]),
    [
      ['ezra', 'write', 'publish', 'allowed'],
      ['bezalel', 'read', 'publish', 'denied'],
      ['stranger', null, 'publish', 'denied'],
      ['bezalel', 'read', 'read', 'allowed'],
    ],
  );
  assert.match(bus.auditLog[1]!.reason!, /participant 'bezalel' \(role read\) lacks 'publish'/);
});
