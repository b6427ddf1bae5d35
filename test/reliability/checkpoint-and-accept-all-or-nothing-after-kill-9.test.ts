/**
 * A checkpoint with artifacts and a handoff accept are all or nothing across kill -9. While one writer
 * uploads blobs and then records checkpoints whose `files` refer to them, and the recipient accepts
 * handoffs, the server process gets SIGKILL at a random moment. Reading the store directly afterwards:
 *
 * - every checkpoint event that exists has every one of its blobs readable through its mission, byte for
 *   byte (sha256 and size match); every acknowledged checkpoint and blob upload exists;
 * - every handoff has at most one accept event, and exactly one if the accept was acknowledged.
 *
 * After the restart, each accept that was sent but never answered is sent again: it succeeds (201) exactly
 * when the store had no accept for it, and is a ConflictError (409) exactly when the dead server had
 * already made its accept durable — never both, never a second accept event. Three kills per store.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import { MissionClient } from '../../src/client/index.js';
import { ConflictError, UnavailableError } from '../../src/core/errors.js';
import type { CheckpointEvent, HandoffAcceptedEvent } from '../../src/core/events.js';
import { skipUnlessPostgres } from '../multi-instance/postgres-env.js';
import { ChildServer } from './child-server.js';
import { assertContiguous, postgresUnderTest, readAll, sqliteUnderTest, type StoreUnderTest } from './stores.js';

const MISSION = 'artifacts';
/** Handoffs made ready for accepting before each round. */
const HANDOFFS_PER_ROUND = 200;
const KILLS = 3;
const WRITER_FLOWS = 6;
const ACCEPTORS = 6;
const FILES_PER_CHECKPOINT = 3;

interface Flow {
  summary: string;
  files: Array<{ path: string; size: number; sha256: string; bytes: Buffer }>;
  blobsAcked: number;
  checkpoint: 'unsent' | 'sent' | { checkpoint_id: string };
}

type AcceptState = 'untried' | 'sent' | 'acked';

interface World {
  writer: () => MissionClient;
  recipient: () => MissionClient;
  flows: Flow[];
  accepts: Map<string, AcceptState>;
  failures: string[];
}

function newFlow(n: number): Flow {
  const files = Array.from({ length: FILES_PER_CHECKPOINT }, (_, i) => {
    const bytes = randomBytes(randomInt(1, 48 * 1024));
    return { path: `flow-${n}/file-${i}.bin`, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), bytes };
  });
  return { summary: `cp-${n}`, files, blobsAcked: 0, checkpoint: 'unsent' };
}

/** True for the errors a dead server causes; anything else is recorded as a failure. */
function isServerGone(error: unknown): boolean {
  return error instanceof UnavailableError;
}

async function writerLoop(world: World, stop: () => boolean): Promise<void> {
  while (!stop()) {
    const flow = newFlow(world.flows.length);
    world.flows.push(flow);
    try {
      for (const file of flow.files) {
        const ref = await world.writer().putBlob(file.bytes);
        assert.equal(ref.sha256, file.sha256);
        flow.blobsAcked++;
      }
      flow.checkpoint = 'sent';
      const event = await world.writer().checkpoint({
        summary: flow.summary,
        state: { flow: flow.summary },
        files: flow.files.map(({ path, size, sha256 }) => ({ path, size, sha256 })),
      });
      flow.checkpoint = { checkpoint_id: event.checkpoint_id };
    } catch (error) {
      if (!isServerGone(error)) world.failures.push(`${flow.summary}: ${(error as Error).name}: ${(error as Error).message}`);
      return;
    }
  }
}

async function acceptLoop(world: World, queue: string[], stop: () => boolean): Promise<void> {
  while (!stop()) {
    const handoffId = queue.shift();
    if (handoffId === undefined) return;
    world.accepts.set(handoffId, 'sent');
    try {
      await world.recipient().accept(handoffId);
      world.accepts.set(handoffId, 'acked');
    } catch (error) {
      if (!isServerGone(error)) world.failures.push(`accept ${handoffId}: ${(error as Error).name}: ${(error as Error).message}`);
      return;
    }
  }
}

interface Inspection {
  checkpoints: number;
  /** Checkpoints whose request was never answered but that the dead server had made durable. */
  durableUnanswered: number;
  blobsChecked: number;
  /** handoff_id → number of accept events. */
  accepted: Map<string, number>;
}

async function inspect(under: StoreUnderTest, world: World): Promise<Inspection> {
  const store = await under.open();
  try {
    const events = await readAll(store, MISSION);
    await assertContiguous(store, MISSION, events);
    const accepted = new Map<string, number>();
    const bySummary = new Map<string, CheckpointEvent>();
    let blobsChecked = 0;
    for (const stored of events) {
      if (stored.event_type === 'handoff_accepted') {
        const event = JSON.parse(stored.body) as HandoffAcceptedEvent;
        accepted.set(event.handoff_id, (accepted.get(event.handoff_id) ?? 0) + 1);
      }
      if (stored.event_type !== 'checkpoint') continue;
      const checkpoint = JSON.parse(stored.body) as CheckpointEvent;
      if (!checkpoint.summary.startsWith('cp-')) continue;
      assert.equal(bySummary.has(checkpoint.summary), false, `checkpoint ${checkpoint.summary} recorded twice`);
      bySummary.set(checkpoint.summary, checkpoint);
      assert.equal(checkpoint.files?.length, FILES_PER_CHECKPOINT, `checkpoint ${checkpoint.summary} has all its files`);
      for (const file of checkpoint.files!) {
        const bytes = await store.getBlob(MISSION, file.sha256);
        assert.ok(bytes, `blob ${file.sha256} of checkpoint ${checkpoint.summary} is readable`);
        assert.equal(createHash('sha256').update(bytes).digest('hex'), file.sha256);
        assert.equal(bytes.byteLength, file.size);
        blobsChecked++;
      }
    }
    let durableUnanswered = 0;
    for (const flow of world.flows) {
      const found = bySummary.get(flow.summary);
      if (flow.checkpoint === 'sent' && found) durableUnanswered++;
      if (typeof flow.checkpoint === 'object') assert.equal(found?.checkpoint_id, flow.checkpoint.checkpoint_id, `acknowledged ${flow.summary} is stored`);
      if (flow.checkpoint === 'unsent') assert.equal(found, undefined, `${flow.summary} was never sent`);
      for (const file of flow.files.slice(0, flow.blobsAcked)) {
        assert.ok(await store.getBlob(MISSION, file.sha256), `acknowledged upload ${file.sha256} is stored`);
      }
    }
    for (const [handoffId, count] of accepted) assert.equal(count, 1, `handoff ${handoffId} accepted ${count} times`);
    for (const [handoffId, state] of world.accepts) {
      if (state === 'acked') assert.equal(accepted.get(handoffId), 1, `acknowledged accept of ${handoffId} is stored`);
      if (state === 'untried') assert.equal(accepted.has(handoffId), false, `${handoffId} was never accepted`);
    }
    return { checkpoints: bySummary.size, durableUnanswered, blobsChecked, accepted };
  } finally {
    await store.close();
  }
}

async function killDuringCheckpointsAndAccepts(under: StoreUnderTest, report: (line: string) => void): Promise<void> {
  let child = await ChildServer.start(under.spec);
  let clients: MissionClient[] = [];
  const connect = (token: string) => {
    const client = new MissionClient({ url: child.url, token, missionId: MISSION, timeoutMs: 10_000 });
    clients.push(client);
    return client;
  };
  try {
    const anon = new MissionClient({ url: child.url });
    const created = await anon.createMission({ mission_id: MISSION, lead: { name: 'lead' } });
    anon.close();
    const lead = connect(created.token);
    const tokens = {
      ezra: (await lead.addParticipant('ezra', 'write')).token,
      timmy: (await lead.addParticipant('timmy', 'write')).token,
    };
    let writer = connect(tokens.ezra);
    let recipient = connect(tokens.timmy);
    const world: World = { writer: () => writer, recipient: () => recipient, flows: [], accepts: new Map(), failures: [] };
    const base = await writer.checkpoint({ summary: 'base', state: {} });

    let inspection: Inspection | undefined;
    let acceptsInFlightAtKills = 0;
    for (let round = 1; round <= KILLS + 1; round++) {
      const final = round === KILLS + 1;
      // First, every accept the last crash left unanswered, sent again: 201 iff the store had none.
      let retriedOk = 0;
      let retriedConflict = 0;
      for (const [handoffId, state] of world.accepts) {
        if (state !== 'sent') continue;
        const stored = inspection!.accepted.get(handoffId) === 1;
        try {
          await recipient.accept(handoffId);
          assert.equal(stored, false, `retried accept of ${handoffId} succeeded although the store had its accept`);
          retriedOk++;
        } catch (error) {
          assert.ok(error instanceof ConflictError, `retried accept of ${handoffId}: ${(error as Error).message}`);
          assert.equal(stored, true, `retried accept of ${handoffId} conflicted although the store had no accept`);
          retriedConflict++;
        }
        world.accepts.set(handoffId, 'acked');
      }

      if (!final) {
        for (let i = 0; i < HANDOFFS_PER_ROUND; i += 20) {
          const batch = await Promise.all(Array.from({ length: 20 }, () => writer.handoff('timmy', base.checkpoint_id)));
          for (const handoff of batch) world.accepts.set(handoff.handoff_id, 'untried');
        }
      }
      const flowsBefore = world.flows.length;
      let stopped = false;
      const stop = () => stopped;
      const queue = [...world.accepts].filter(([, state]) => state === 'untried').map(([id]) => id);
      const loops = [
        ...Array.from({ length: WRITER_FLOWS }, () => writerLoop(world, stop)),
        ...Array.from({ length: ACCEPTORS }, () => acceptLoop(world, queue, stop)),
      ];
      if (final) {
        stopped = true;
        await Promise.all(loops);
        await child.stop();
      } else {
        // Let both kinds of work get going, then kill at a random moment in the middle of it.
        const acceptedBefore = [...world.accepts.values()].filter((s) => s === 'acked').length;
        const checkpointed = () => world.flows.slice(flowsBefore).filter((f) => typeof f.checkpoint === 'object').length;
        const accepted = () => [...world.accepts.values()].filter((s) => s === 'acked').length - acceptedBefore;
        const deadline = Date.now() + 20_000;
        while (Date.now() < deadline && (checkpointed() < 4 || accepted() < 4)) await new Promise((resolve) => setTimeout(resolve, 5));
        assert.ok(checkpointed() >= 4 && accepted() >= 4, 'both kinds of work made progress before the kill');
        await new Promise((resolve) => setTimeout(resolve, randomInt(0, 300)));
        // Kill while a checkpoint is on its way (its blobs are uploaded, its POST sent and not answered).
        const inFlight = () => world.flows.some((f) => f.checkpoint === 'sent');
        const soon = Date.now() + 5_000;
        while (!inFlight() && Date.now() < soon) await new Promise((resolve) => setImmediate(resolve));
        assert.ok(inFlight(), 'a checkpoint was in flight at the kill');
        acceptsInFlightAtKills += [...world.accepts.values()].filter((state) => state === 'sent').length;
        await child.kill9();
        stopped = true;
        await Promise.all(loops);
        await under.settle();
      }
      assert.deepEqual(world.failures, []);
      inspection = await inspect(under, world);
      const acked = [...world.accepts.values()].filter((s) => s === 'acked').length;
      const unanswered = [...world.accepts.values()].filter((s) => s === 'sent').length;
      const checkpointsUnanswered = world.flows.slice(flowsBefore).filter((f) => f.checkpoint === 'sent').length;
      report(
        `${under.spec.store} round ${round}${final ? ' (graceful stop)' : ' (SIGKILL)'}: ` +
          `${world.flows.length} checkpoint flows started, ${inspection.checkpoints} checkpoints stored, ${inspection.blobsChecked} of their blobs verified; ` +
          `${checkpointsUnanswered} checkpoint requests unanswered at the kill (of all unanswered so far, ${inspection.durableUnanswered} durable anyway); ` +
          `accepts: ${acked} acknowledged, ${unanswered} unanswered, ${inspection.accepted.size} stored; retried ${retriedOk} → 201, ${retriedConflict} → 409`,
      );
      if (!final) {
        for (const client of clients) client.close();
        child = await ChildServer.start(under.spec);
        clients = [];
        writer = connect(tokens.ezra);
        recipient = connect(tokens.timmy);
      }
    }
    const unanswered = [...world.accepts.values()].filter((s) => s === 'sent').length;
    assert.equal(unanswered, 0);
    assert.ok(acceptsInFlightAtKills > 0, 'some kill came while accepts were in flight');
    for (const [handoffId, state] of world.accepts) if (state === 'acked') assert.equal(inspection!.accepted.get(handoffId), 1);
  } finally {
    for (const client of clients) client.close();
    await child.stop();
    await under.cleanup();
  }
}

const skipPostgres = await skipUnlessPostgres();

describe('checkpoints with artifacts and handoff accepts are all or nothing across kill -9', () => {
  it('SQLite', { timeout: 120_000 }, async (t) => {
    await killDuringCheckpointsAndAccepts(sqliteUnderTest(), (line) => t.diagnostic(line));
  });

  it('PostgreSQL', { timeout: 120_000, skip: skipPostgres }, async (t) => {
    await killDuringCheckpointsAndAccepts(postgresUnderTest(), (line) => t.diagnostic(line));
  });
});
