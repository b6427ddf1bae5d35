/**
 * Three missionbus instances, each its own process with its own pool, serve ONE mission on one
 * PostgreSQL schema. Writers spread over them must produce one contiguous stream in which every
 * acknowledged event sits where it was acknowledged, every instance's subscriber sees that same stream
 * (events appended through the other instances arrive by NOTIFY and catch-up), and decisions that may
 * happen once (accepting a handoff) happen once across instances.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MissionEvent } from '../../src/core/events.js';
import type { StoredEvent } from '../../src/store/contract.js';
import { Instance, RemoteError } from './harness.js';
import type { PublishLoopResult } from './instance.js';
import { POSTGRES_URL, dropSchema, freshSchema, readStream, skipUnlessPostgres } from './postgres-env.js';

const MISSION = 'shared';
const WRITERS = 8;
const PER_WRITER = 60;

const skip = await skipUnlessPostgres();

describe('one mission served by several instances on PostgreSQL', { skip }, () => {
  const schema = freshSchema();
  let instances: Instance[] = [];

  before(async () => {
    instances = await Promise.all(['A', 'B', 'C'].map((name) => Instance.spawn(name)));
    // All three open at once: the migrations must be applied exactly once. The safety poll is off, so
    // what an instance learns of the others' appends comes by NOTIFY (or from losing a race).
    await Promise.all(instances.map((instance) => instance.call('open', { url: POSTGRES_URL, schema, poolSize: 4, pollIntervalMs: 3_600_000 })));
    const [a] = instances as [Instance];
    await a.call('createMission', { mission_id: MISSION, lead: 'timmy' });
    for (const name of [...Array.from({ length: WRITERS }, (_, w) => `w${w}`), 'bezalel']) {
      await a.call('run', { mission_id: MISSION, actor: 'timmy', command: { kind: 'add_participant', name, role: 'write' } });
    }
    await Promise.all(instances.map((instance) => instance.call('subscribe', { mission_id: MISSION })));
  });

  after(async () => {
    await Promise.all(instances.map((instance) => instance.stop()));
    if (!skip) await dropSchema(schema);
  });

  it('keeps one contiguous stream with every acknowledged publish, seen in order by every instance', async () => {
    const results = await Promise.all(
      Array.from({ length: WRITERS }, (_, w) =>
        instances[w % instances.length]!.call<PublishLoopResult>('publishLoop', {
          mission_id: MISSION,
          actor: `w${w}`,
          count: PER_WRITER,
          prefix: `w${w}`,
        }),
      ),
    );
    for (const result of results) assert.deepEqual(result.failures, []);
    const refusals: Record<string, number> = {};
    for (const result of results) for (const [name, n] of Object.entries(result.refusals)) refusals[name] = (refusals[name] ?? 0) + n;
    console.log(`# writers' retried refusals: ${JSON.stringify(refusals)}`);

    const stream = await readStream(schema, MISSION);
    assertContiguous(stream);
    const bySequence = new Map(stream.map((event) => [event.sequence, event]));
    const acked = results.flatMap((result) => result.acked);
    assert.equal(acked.length, WRITERS * PER_WRITER);
    for (const { message_id, sequence } of acked) {
      assert.equal(bySequence.get(sequence)?.event_id, message_id, `acknowledged ${message_id} must be event ${sequence}`);
    }
    const messages = stream.filter((event) => event.event_type === 'message');
    assert.equal(messages.length, WRITERS * PER_WRITER, 'no publish may be stored twice');

    const expected = stream.map((event) => [event.sequence, event.event_id]);
    const last = stream.at(-1)!.sequence;
    for (const instance of instances) {
      const delivered = await instance.call<Array<[number, string]>>('delivered', { mission_id: MISSION, sequence: last });
      assert.deepEqual(delivered, expected, `instance ${instance.name}'s subscriber must see the whole stream in order`);
    }
  });

  it('lets a handoff be accepted once, whichever instances the accepts go through', async () => {
    const [a, b, c] = instances as [Instance, Instance, Instance];
    const checkpoint = await a.call<MissionEvent & { checkpoint_id: string }>('run', {
      mission_id: MISSION,
      actor: 'timmy',
      command: { kind: 'checkpoint', summary: 'half way', state: { step: 1 } },
    });
    const handoff = await a.call<MissionEvent & { handoff_id: string }>('run', {
      mission_id: MISSION,
      actor: 'timmy',
      command: { kind: 'handoff', recipient: 'bezalel', checkpoint_id: checkpoint.checkpoint_id, note: 'yours' },
    });
    // B and C learn about the handoff from PostgreSQL, not from A.
    for (const instance of [b, c]) await instance.call('delivered', { mission_id: MISSION, sequence: handoff.sequence });

    const accept = { mission_id: MISSION, actor: 'bezalel', command: { kind: 'accept', handoff_id: handoff.handoff_id } };
    const raced = await Promise.allSettled([a.call('run', accept), b.call('run', accept)]);
    assert.equal(raced.filter((r) => r.status === 'fulfilled').length, 1, 'exactly one of two racing accepts may succeed');
    const loser = raced.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.ok(loser.reason instanceof RemoteError && loser.reason.name === 'ConflictError', String(loser.reason));
    assert.match(loser.reason.message, /already accepted/);

    const accepted = (raced.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<MissionEvent>).value;
    await c.call('delivered', { mission_id: MISSION, sequence: accepted.sequence });
    await assert.rejects(c.call('run', accept), (error: unknown) => error instanceof RemoteError && error.name === 'ConflictError');

    const stream = await readStream(schema, MISSION);
    assertContiguous(stream);
    assert.equal(stream.filter((event) => event.event_type === 'handoff_accepted').length, 1);
  });
});


function assertContiguous(stream: StoredEvent[]): void {
  stream.forEach((event, i) => assert.equal(event.sequence, i + 1, 'the stream must be contiguous from 1'));
  assert.equal(new Set(stream.map((event) => event.event_id)).size, stream.length, 'event ids must be unique');
}
