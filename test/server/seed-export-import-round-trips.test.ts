/**
 * A mission exported in the seed's `to_dict` shape imports into another server as the same mission:
 * same roster, same events with the same ids, sequences and timestamps; every participant of the
 * imported roster gets a working token (shown once). Our full format round-trips the extended events too.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { createMission, raw, startTestServer, type TestMission, type TestServer } from './helpers.js';

let source: TestServer;
let target: TestServer;
let m: TestMission;
before(async () => {
  source = await startTestServer();
  target = await startTestServer();
  m = await createMission(source, 'voyage', { ezra: 'write', bezalel: 'read', allegro: 'audit' });
  await m.as.lead!.publish('mission.start', { goal: 'roundtrip' }, { messageId: 'start-1' });
  const checkpoint = await m.as.ezra!.checkpoint({ summary: 'save state', state: { count: 1 }, artifacts: ['docs/a.md'] });
  const handoff = await m.as.ezra!.handoff('lead', checkpoint.checkpoint_id, 'resume');
  await m.as.lead!.accept(handoff.handoff_id);
  await m.as.lead!.configureIsolation('level1-directory');
  await m.as.lead!.changeRole('bezalel', 'write');
});
after(async () => {
  await source.close();
  await target.close();
});

test('a seed-format export imports on another server as the same mission, with tokens for everyone', async () => {
  // A mission whose stream is seed events only (imported from the seed's own to_dict) round-trips exactly.
  const fixture = JSON.parse(readFileSync(new URL('../fixtures/seed-dump.json', import.meta.url), 'utf8'));
  fixture.mission_id = 'seed-origin';
  const first = await source.anon.import(fixture);
  const origin = source.anon.withToken(first.tokens.bezalel!, 'seed-origin');
  const seed = (await origin.export({ format: 'seed' })) as any;
  assert.equal(seed.missionbus, undefined);
  assert.deepEqual(seed.events, fixture.events);

  const imported = await target.anon.import(seed);
  assert.deepEqual(Object.keys(imported.tokens).sort(), ['allegro', 'bezalel', 'ezra', 'timmy']);
  assert.deepEqual(imported.mission.participants, seed.participants);
  const ezra = target.anon.withToken(imported.tokens.ezra!, 'seed-origin');
  assert.equal(((await ezra.whoami()) as any).role, 'write');
  assert.deepEqual(await ezra.export({ format: 'seed' }), seed);
  // The imported mission is live: its handoff can be accepted there, once.
  const timmy = target.anon.withToken(imported.tokens.timmy!, 'seed-origin');
  const handoffId = seed.events[2].handoff_id;
  await timmy.accept(handoffId);
  await assert.rejects(timmy.accept(handoffId), { name: 'ConflictError' });
});

test('a seed-format export of a mission with membership events imports, renumbered as the seed expects', async () => {
  const seed = (await m.as.bezalel!.export({ format: 'seed' })) as any;
  assert.deepEqual(seed.events.map((e: any) => e.sequence), seed.events.map((_: unknown, i: number) => i + 1));
  assert.equal(seed.missionbus, undefined);
  seed.mission_id = 'voyage-seed';
  const imported = await target.anon.import(seed);
  assert.equal(imported.mission.last_sequence, seed.events.length);
  assert.deepEqual(imported.mission.participants, seed.participants);
  const copy = target.anon.withToken(imported.tokens.bezalel!, 'voyage-seed');
  assert.deepEqual(await copy.export({ format: 'seed' }), seed);
});

test('a full export round-trips every event, extended ones included', async () => {
  const full = (await m.as.lead!.export()) as any;
  full.mission_id = 'voyage-copy';
  const imported = await target.anon.import(full);
  const copy = target.anon.withToken(imported.tokens.lead!, 'voyage-copy');
  const original = (await m.as.lead!.events({ limit: 1000 })).events;
  const restored = (await copy.events({ limit: 1000 })).events;
  assert.deepEqual(restored, original);
  assert.equal(imported.mission.isolation_profile?.name, 'level1-directory');
  assert.equal(imported.mission.participants.bezalel!.role, 'write');
  const again = (await copy.export()) as any;
  assert.deepEqual({ ...again, mission_id: 'voyage-copy' }, full);
});

test("the seed's own to_dict fixture imports; importing an existing mission id is 409", async () => {
  const fixture = JSON.parse(readFileSync(new URL('../fixtures/seed-dump.json', import.meta.url), 'utf8'));
  const imported = await target.anon.import(fixture);
  assert.deepEqual(Object.keys(imported.tokens).sort(), Object.keys(fixture.participants).sort());
  const timmy = target.anon.withToken(imported.tokens.timmy!, fixture.mission_id);
  const packet = await timmy.resumePacket(fixture.events[2].handoff_id);
  assert.equal(packet.checkpoint.checkpoint_id, fixture.events[1].checkpoint_id);
  await assert.rejects(target.anon.import(fixture), { name: 'ConflictError' });
});

test('an inconsistent dump is refused with the reason and creates nothing', async () => {
  const broken = {
    mission_id: 'broken',
    title: '',
    participants: { a: { name: 'a', role: 'lead', metadata: {} } },
    events: [{ event_type: 'handoff', sender: 'a', recipient: 'a', checkpoint_id: 'missing', note: '', sequence: 1, timestamp: 't', handoff_id: 'h' }],
  };
  await assert.rejects(target.anon.import(broken), (error: any) => {
    assert.equal(error.name, 'InvalidInputError');
    assert.match(error.message, /unknown checkpoint/);
    return true;
  });
  assert.equal(await target.store.getMission('broken'), undefined);
  const res = await raw(target.server, 'POST', '/v1/missions/import', { headers: { 'Content-Type': 'application/json' }, body: '[]' });
  assert.equal(res.status, 400);
});
