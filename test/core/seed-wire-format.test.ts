/**
 * Our import/export format is the seed's: a dump written by the seed's `to_dict` loads here, and ours
 * loads in the seed's `from_dict`. The fixtures are hand-written in the seed's shape; `assertSeedLoads`
 * checks exactly the keys and types the seed's loader reads.
 */
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { InvalidInputError } from '../../src/core/errors.js';
import { MissionBus } from '../../src/core/mission-bus.js';
import { loadProfiles } from '../../src/config/load-profiles.js';
import { DEFAULT_PROFILES } from '../../src/core/profiles.js';
import { buildTeamBus } from './helpers.js';

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8'));

const SEED_EVENT_KEYS: Record<string, Record<string, string>> = {
  message: { sender: 'string', topic: 'string', payload: 'object', sequence: 'number', timestamp: 'string', message_id: 'string' },
  checkpoint: { sender: 'string', summary: 'string', state: 'object', artifacts: 'array', sequence: 'number', timestamp: 'string', checkpoint_id: 'string' },
  handoff: { sender: 'string', recipient: 'string', checkpoint_id: 'string', note: 'string', sequence: 'number', timestamp: 'string', handoff_id: 'string' },
};

function kind(value: unknown): string {
  return Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value;
}

/** What the seed's `MissionBus.from_dict` needs to load a dump without raising. */
function assertSeedLoads(dump: any): void {
  assert.equal(typeof dump.mission_id, 'string');
  assert.equal(typeof dump.title, 'string');
  assert.equal(kind(dump.config), 'object');
  assert.equal(kind(dump.config.roles), 'object');
  for (const profile of dump.config.isolation_profiles) {
    for (const key of ['name', 'label', 'level', 'mechanism']) assert.ok(key in profile, `profile lacks ${key}`);
  }
  for (const [name, participant] of Object.entries<any>(dump.participants)) {
    assert.equal(participant.name, name);
    assert.ok(['lead', 'write', 'read', 'audit'].includes(participant.role));
    assert.equal(kind(participant.metadata), 'object');
  }
  for (const event of dump.events) {
    const keys = SEED_EVENT_KEYS[event.event_type];
    assert.ok(keys, `the seed's loader raises on event_type ${event.event_type}`);
    for (const [key, type] of Object.entries(keys)) assert.equal(kind(event[key]), type, `${event.event_type}.${key}`);
  }
}

test('a dump in the seed to_dict shape loads with its ids, sequences and roster', () => {
  const dump = fixture('seed-dump.json');
  const bus = MissionBus.fromDict(dump);
  assert.equal(bus.missionId, 'mission-883');
  assert.equal(bus.title, 'multi-agent teaming');
  assert.deepEqual(bus.events.map((e) => [e.event_type, e.sequence]), [['message', 1], ['checkpoint', 2], ['handoff', 3]]);
  assert.equal(bus.participants.ezra!.metadata.model, 'codex');
  const packet = bus.buildResumePacket('a9d2c4e6-1f3b-4a5c-8e7d-9b0a1c2d3e44');
  assert.equal(packet.checkpoint.state.branch, 'fix/883');
  assert.equal(packet.checkpoint.timestamp, '2026-04-15T08:09:33.000001+00:00');
  // Loading and exporting a seed dump gives back the same seed dump.
  assert.deepEqual(bus.toDict({ seedOnly: true }), dump);
  // The bus goes on from there.
  assert.equal(bus.publish('timmy', 'next', {}).sequence, 4);
});

test("the seed's camelCase id aliases load", () => {
  const bus = MissionBus.fromDict(fixture('seed-dump-camel.json'));
  assert.equal(bus.getEvent('m-1').event_type, 'message');
  assert.equal(bus.getCheckpoint('c-1').summary, 's');
  assert.equal(bus.getHandoff('h-1').checkpoint_id, 'c-1');
  assert.deepEqual(bus.config, DEFAULT_PROFILES, 'a dump without config gets the default profiles');
});

test("our dump loads in the seed's from_dict, extended events included", () => {
  const bus = buildTeamBus();
  bus.addParticipant('timmy', 'gimli', 'write');
  bus.publish('gimli', 'hello', { n: 1 });
  const checkpoint = bus.createCheckpoint('gimli', { summary: 's', state: { a: [1, 2] }, artifacts: ['x.txt'] });
  const handoff = bus.handoff('gimli', 'ezra', checkpoint.checkpoint_id, 'go');
  bus.acceptHandoff('ezra', handoff.handoff_id);
  bus.changeRole('timmy', 'bezalel', 'write');
  const dump = JSON.parse(JSON.stringify(bus.toDict()));
  assertSeedLoads(dump);
  assert.deepEqual(dump.events.map((e: any) => e.event_type), ['message', 'checkpoint', 'handoff']);
  assert.deepEqual(dump.missionbus.extended_events.map((e: any) => e.event_type), ['participant_joined', 'handoff_accepted', 'role_changed']);
  const restored = MissionBus.fromDict(dump);
  assert.deepEqual(restored.events, bus.events);
  assert.deepEqual(restored.participants, bus.participants);
  assert.equal(restored.isAccepted(handoff.handoff_id), true);
});

test('a dump with a dangling handoff, a sequence gap or a wrong type is refused with the reason', () => {
  const dangling = fixture('seed-dump.json');
  dangling.events[2].checkpoint_id = 'nope';
  assert.throws(() => MissionBus.fromDict(dangling), /references unknown checkpoint nope/);
  const gap = fixture('seed-dump.json');
  gap.events[1].sequence = 5;
  assert.throws(() => MissionBus.fromDict(gap), InvalidInputError);
  const wrongType = fixture('seed-dump.json');
  wrongType.events[0].payload = 'text';
  assert.throws(() => MissionBus.fromDict(wrongType), /event #1/);
  const unknownType = fixture('seed-dump.json');
  unknownType.events[0].event_type = 'telepathy';
  assert.throws(() => MissionBus.fromDict(unknownType), InvalidInputError);
});

test('loadProfiles reads the seed shape, falls back when absent, and refuses a broken file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'missionbus-profiles-'));
  try {
    assert.deepEqual(loadProfiles(join(dir, 'absent.json')), DEFAULT_PROFILES);
    const partial = join(dir, 'partial.json');
    writeFileSync(partial, JSON.stringify({ roles: { lead: ['read'] } }));
    const loaded = loadProfiles(partial);
    assert.deepEqual(loaded.roles.lead, ['read']);
    assert.deepEqual(loaded.roles.write, []);
    assert.equal(loaded.isolation_profiles.length, 3);
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{ not json');
    assert.throws(() => loadProfiles(broken), /is not valid JSON/);
    const wrong = join(dir, 'wrong.json');
    writeFileSync(wrong, JSON.stringify({ roles: { lead: ['fly'] } }));
    assert.throws(() => loadProfiles(wrong), InvalidInputError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
