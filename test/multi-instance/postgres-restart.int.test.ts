/**
 * PostgreSQL restarts while two instances (separate processes) take publishes for one mission.
 * Calls caught by the restart must be refused with the retryable UnavailableError and nothing else
 * (a probe appending straight to a store makes sure some are);
 * writers repeat them (same message_id, so a publish that was applied but not acknowledged is not
 * stored twice). Afterwards no acknowledged event is missing, the stream is contiguous, and both
 * instances' subscribers, whose LISTEN connections died with the server, have caught up.
 *
 * Restarts the local cluster with pg_ctlcluster (root, Debian layout); skipped where that is not possible.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ConflictError, UnavailableError } from '../../src/core/errors.js';
import { PostgresStore } from '../../src/store/postgres.js';
import type { StoredEvent } from '../../src/store/contract.js';
import { Instance } from './harness.js';
import type { PublishLoopResult } from './instance.js';
import { POSTGRES_URL, dropSchema, freshSchema, readStream, postgresUnavailableReason, skipUnlessPostgres } from './postgres-env.js';

const run = promisify(execFile);
const MISSION = 'restart';
const WRITERS = 6;
const PER_WRITER = 150;

function cluster(): string | undefined {
  if (!existsSync('/etc/postgresql') || process.getuid?.() !== 0) return undefined;
  return readdirSync('/etc/postgresql')[0];
}

async function pgctl(action: 'restart' | 'start'): Promise<void> {
  await run('pg_ctlcluster', ['--skip-systemctl-redirect', cluster()!, 'main', action]);
}

const skip =
  (await skipUnlessPostgres()) ||
  (cluster() === undefined ? 'cannot restart PostgreSQL here (needs root and pg_ctlcluster with /etc/postgresql)' : false);
if (skip && !process.env.CI) console.log(`# skipping the restart test: ${skip}`);

describe('PostgreSQL restarting under load', { skip }, () => {
  const schema = freshSchema();
  let instances: Instance[] = [];

  before(async () => {
    instances = await Promise.all(['A', 'B'].map((name) => Instance.spawn(name)));
    await Promise.all(instances.map((instance) => instance.call('open', { url: POSTGRES_URL, schema, poolSize: 4 })));
    const a = instances[0]!;
    await a.call('createMission', { mission_id: MISSION, lead: 'timmy' });
    for (let w = 0; w < WRITERS; w++) {
      await a.call('run', { mission_id: MISSION, actor: 'timmy', command: { kind: 'add_participant', name: `w${w}`, role: 'write' } });
    }
    await Promise.all(instances.map((instance) => instance.call('subscribe', { mission_id: MISSION })));
  });

  after(async () => {
    // Whatever happened, leave the server running for whoever comes next.
    if (!skip && (await postgresUnavailableReason()) !== undefined) await pgctl('start').catch(() => undefined);
    await Promise.all(instances.map((instance) => instance.stop()));
    if (!skip) await dropSchema(schema);
  });

  it('refuses with UnavailableError, loses no acknowledged event and catches every instance up', { timeout: 120_000 }, async () => {
    const writers = Array.from({ length: WRITERS }, (_, w) =>
      instances[w % instances.length]!.call<PublishLoopResult>('publishLoop', {
        mission_id: MISSION,
        actor: `w${w}`,
        count: PER_WRITER,
        prefix: `w${w}`,
        retryDelayMs: 100,
        deadlineMs: 90_000,
      }),
    );
    // Restart once the writers are well under way. Meanwhile a probe appends straight to a store (no
    // reads first, which the store retries through a short outage) so some appends meet the dead server.
    await instances[0]!.call('delivered', { mission_id: MISSION, sequence: WRITERS + 100, timeoutMs: 30_000 });
    const probe = await PostgresStore.open(POSTGRES_URL, { schema, poolSize: 2 });
    await probe.createMission({ header: { ...(await probe.getMission(MISSION))!.header, mission_id: 'probe' } });
    let restarting = true;
    const restarted = pgctl('restart').finally(() => (restarting = false));
    const probed = probeAppends(probe, () => restarting);
    await restarted;
    const results = await Promise.all(writers);
    const { acked: probeAcked, errors: probeErrors } = await probed;
    await probe.close();

    console.log(`# probe appends during the restart: ${probeAcked} acknowledged, ${probeErrors.length} refused`);
    assert.ok(probeErrors.length > 0, 'appends while the server is down must be refused');
    for (const error of probeErrors) {
      assert.ok(error instanceof UnavailableError, `expected UnavailableError, got ${String(error)}`);
      assert.match(error.message, /retryable/);
    }

    for (const result of results) assert.deepEqual(result.failures, [], 'every refusal must have been retryable');
    const refusals: Record<string, number> = {};
    for (const result of results) for (const [name, n] of Object.entries(result.refusals)) refusals[name] = (refusals[name] ?? 0) + n;
    console.log(`# writers' refusals during the restart: ${JSON.stringify(refusals)}`);
    for (const name of Object.keys(refusals)) assert.ok(['UnavailableError', 'ConflictError'].includes(name), `unexpected refusal ${name}`);

    const stream = await readStream(schema, MISSION);
    stream.forEach((event, i) => assert.equal(event.sequence, i + 1, 'the stream must be contiguous from 1'));
    const bySequence = new Map(stream.map((event) => [event.sequence, event]));
    const acked = results.flatMap((result) => result.acked);
    assert.equal(acked.length, WRITERS * PER_WRITER);
    for (const { message_id, sequence } of acked) {
      assert.equal(bySequence.get(sequence)?.event_id, message_id, `acknowledged ${message_id} must be event ${sequence}`);
    }
    assert.equal(stream.filter((event) => event.event_type === 'message').length, WRITERS * PER_WRITER, 'no publish stored twice');

    const expected = stream.map((event) => [event.sequence, event.event_id]);
    for (const instance of instances) {
      const delivered = await instance.call('delivered', { mission_id: MISSION, sequence: stream.at(-1)!.sequence, timeoutMs: 20_000 });
      assert.deepEqual(delivered, expected, `instance ${instance.name}'s subscriber must have caught up after the restart`);
    }
  });
});

/** Appends one event at a time to mission 'probe' while `going()`; checks what it was told at the end. */
async function probeAppends(store: PostgresStore, going: () => boolean): Promise<{ acked: number; errors: unknown[] }> {
  const errors: unknown[] = [];
  const acked: number[] = [];
  let at = 0;
  while (going()) {
    const sequence = at + 1;
    const event = { sequence, event_type: 'message', event_id: `p-${sequence}`, body: JSON.stringify({ sequence }) };
    try {
      await store.append({ mission_id: 'probe', expected_sequence: at, events: [event], audit: [] });
      acked.push(sequence);
      at = sequence;
    } catch (error) {
      if (error instanceof ConflictError && error.details.reason === 'sequence') {
        // A refused append that did commit after all: the stream knows.
        at = (await store.getMission('probe'))!.last_sequence;
        continue;
      }
      errors.push(error);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  const stream: StoredEvent[] = [];
  for await (const event of store.iterateEvents('probe')) stream.push(event);
  stream.forEach((event, i) => assert.equal(event.event_id, `p-${i + 1}`));
  for (const sequence of acked) assert.ok(sequence <= stream.length, `acknowledged probe event ${sequence} must be stored`);
  return { acked: acked.length, errors };
}
