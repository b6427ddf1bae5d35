/**
 * An auditor tailing a mission's audit log by id — read after the last id seen, again and again — must
 * see every record, even while three instances append events and record decisions (audit-only batches,
 * which take the mission's row lock like appends) concurrently, without deadlocks. That holds only if,
 * per mission, records become visible in id order: a record committed after one with a higher id would be
 * skipped for good by every tailing reader. The exact interleaving that broke it is reproduced, step by
 * step, in test/store/postgres-specifics.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Instance } from './harness.js';
import { POSTGRES_URL, dropSchema, freshSchema, skipUnlessPostgres } from './postgres-env.js';

const MISSION = 'audited';
const skip = await skipUnlessPostgres();

describe('the audit log of one mission served by several instances on PostgreSQL', { skip }, () => {
  const schema = freshSchema();
  let instances: Instance[] = [];

  before(async () => {
    instances = await Promise.all(['A', 'B', 'C'].map((name) => Instance.spawn(name)));
    await Promise.all(instances.map((instance) => instance.call('open', { url: POSTGRES_URL, schema, poolSize: 4 })));
    const [a] = instances as [Instance];
    await a.call('createMission', { mission_id: MISSION, lead: 'timmy' });
    for (const name of ['w0', 'w1', 'w2', 'r0', 'r1', 'r2']) {
      await a.call('run', { mission_id: MISSION, actor: 'timmy', command: { kind: 'add_participant', name, role: name.startsWith('w') ? 'write' : 'read' } });
    }
  });

  after(async () => {
    await Promise.all(instances.map((instance) => instance.stop()));
    if (!skip) await dropSchema(schema);
  });

  it('is seen whole, in id order, by a reader tailing it while every instance writes to it', async () => {
    const [a, , c] = instances as [Instance, Instance, Instance];
    await c.call('startAuditTail', { mission_id: MISSION });
    await Promise.all(
      instances.flatMap((instance, i) => [
        instance.call('publishLoop', { mission_id: MISSION, actor: `w${i}`, count: 150, prefix: `w${i}` }),
        instance.call('authorizeLoop', { mission_id: MISSION, actor: `r${i}`, count: 150 }),
      ]),
    );
    const seen = await c.call<number[]>('stopAuditTail', { mission_id: MISSION });
    const all = await a.call<number[]>('auditIds', { mission_id: MISSION });
    assert.ok(all.length >= 6 + 900, `the log holds every decision (${all.length})`);
    assert.deepEqual([...seen].sort((x, y) => x - y), seen, 'the tail saw ids in increasing order');
    const missed = all.filter((id) => !new Set(seen).has(id));
    assert.deepEqual(missed.slice(0, 20), [], `the tail missed ${missed.length} of ${all.length} records`);
    assert.equal(seen.length, all.length);
  });
});
