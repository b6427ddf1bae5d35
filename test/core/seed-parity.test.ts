/** The five behaviours the seed's own tests pin down, as our tests. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PermissionDeniedError } from '../../src/core/errors.js';
import { MissionBus } from '../../src/core/mission-bus.js';
import { loadProfiles, DEFAULT_PROFILES_PATH } from '../../src/config/load-profiles.js';
import { buildTeamBus } from './helpers.js';

test('role permissions gate publish, checkpoint and handoff', () => {
  const bus = buildTeamBus();
  assert.equal(bus.allowed('timmy', 'publish'), true);
  assert.equal(bus.allowed('ezra', 'handoff'), true);
  assert.equal(bus.allowed('allegro', 'audit'), true);
  assert.equal(bus.allowed('bezalel', 'publish'), false);
  assert.equal(bus.allowed('nobody', 'read'), false);
  assert.throws(() => bus.publish('bezalel', 'mission.update', { ok: false }), PermissionDeniedError);
  assert.throws(() => bus.createCheckpoint('allegro', { summary: 'x', state: {} }), PermissionDeniedError);
  const checkpoint = bus.createCheckpoint('ezra', { summary: 'x', state: {} });
  assert.throws(() => bus.handoff('bezalel', 'timmy', checkpoint.checkpoint_id), PermissionDeniedError);
  assert.deepEqual(
    bus.events.map((e) => e.event_type),
    ['checkpoint'],
    'refused operations write nothing to the stream',
  );
});

test('the stream records message, checkpoint and handoff with sequences 1, 2, 3', () => {
  const bus = buildTeamBus();
  const message = bus.publish('timmy', 'mission.start', { goal: 'build the slice' });
  const checkpoint = bus.createCheckpoint('ezra', {
    summary: 'checkpoint before lead review',
    state: { branch: 'fix/883', files: ['nexus/mission_bus.py'] },
    artifacts: ['docs/mission-bus.md'],
  });
  const handoff = bus.handoff('ezra', 'timmy', checkpoint.checkpoint_id, 'ready for lead review');
  assert.deepEqual(
    bus.events.map((e) => e.event_type),
    ['message', 'checkpoint', 'handoff'],
  );
  assert.deepEqual(
    bus.events.map((e) => e.sequence),
    [1, 2, 3],
  );
  assert.equal(message.topic, 'mission.start');
  assert.equal(handoff.recipient, 'timmy');
});

test('the resume packet carries checkpoint state, artifacts, participants and the note', () => {
  const bus = buildTeamBus();
  const checkpoint = bus.createCheckpoint('ezra', {
    summary: 'handoff package',
    state: { branch: 'fix/883', tests: ['tests/test_mission_bus.py'] },
    artifacts: ['config/mission_bus_profiles.json'],
  });
  const handoff = bus.handoff('ezra', 'timmy', checkpoint.checkpoint_id, 'pick up from here');
  const packet = bus.buildResumePacket(handoff.handoff_id);
  assert.equal(packet.recipient, 'timmy');
  assert.equal(packet.sender, 'ezra');
  assert.equal(packet.checkpoint.state.branch, 'fix/883');
  assert.deepEqual(packet.checkpoint.artifacts, ['config/mission_bus_profiles.json']);
  assert.equal(packet.participants.ezra!.role, 'write');
  assert.equal(packet.handoff_note, 'pick up from here');
  assert.equal(packet.stream_length, 2);
  assert.equal(packet.mission_id, 'mission-883');
  assert.equal(packet.isolation_profiles.length, 3);
});

test('profiles define level 2 mount_namespace and level 3 rootless_podman', () => {
  const profiles = loadProfiles(DEFAULT_PROFILES_PATH);
  const levels = Object.fromEntries(profiles.isolation_profiles.map((p) => [p.level, p.mechanism]));
  assert.equal(levels[2], 'mount_namespace');
  assert.equal(levels[3], 'rootless_podman');
  assert.deepEqual(profiles.roles.audit, ['read', 'audit']);
});

test('a dict round trip keeps events and isolation profiles', () => {
  const bus = buildTeamBus();
  bus.publish('timmy', 'mission.start', { goal: 'roundtrip' });
  const checkpoint = bus.createCheckpoint('ezra', { summary: 'save state', state: { count: 1 } });
  bus.handoff('ezra', 'timmy', checkpoint.checkpoint_id, 'resume');
  const restored = MissionBus.fromDict(JSON.parse(JSON.stringify(bus.toDict())));
  assert.equal(restored.missionId, 'mission-883');
  const last = restored.events.at(-1)!;
  assert.equal(last.event_type, 'handoff');
  assert.equal(last.event_type === 'handoff' && last.note, 'resume');
  assert.equal(restored.isolationProfiles[1]!.mechanism, 'mount_namespace');
  assert.deepEqual(restored.toDict(), bus.toDict());
});
