/**
 * Acked means durable, whatever kills the server. Four clients publish pipelined (64 in flight each)
 * to a server in its own process; at a random moment it gets SIGKILL. Then, reading the store directly:
 * every acknowledged publish is there exactly once, at the sequence it was acknowledged with; the stream
 * is contiguous; nothing is there that was never sent. The server restarts on the same store and the
 * clients resend every unacknowledged publish with the same message_id: the ones the dead server had
 * already made durable answer 200 with their stored sequence, the others 201, and no message is ever
 * stored twice. Three kills per store, for SQLite (durability 'full') and PostgreSQL: at least 36,000 and
 * 15,750 acknowledged publishes, over 50,000 together.
 *
 * Figures (published, acknowledged, found after each crash) are printed as test diagnostics.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import { MissionClient } from '../../src/client/index.js';
import { skipUnlessPostgres } from '../multi-instance/postgres-env.js';
import { ChildServer } from './child-server.js';
import { PipelinedPublisher } from './pipelined-publisher.js';
import { assertContiguous, postgresUnderTest, readAll, sqliteUnderTest, type StoreUnderTest } from './stores.js';

const MISSION = 'crash';
const CLIENTS = 4;
const WINDOW = 64;
const KILLS = 3;

interface Options {
  /** Acknowledgements per round, roughly: each kill comes after a random number of acks in [3/4, 1] of it. */
  acksPerRound: number;
}

/** What the store held after one crash, checked against what the clients were told. */
interface Found {
  events: number;
  messages: number;
  /** message_id → stored sequence. */
  sequences: Map<string, number>;
}

async function inspect(under: StoreUnderTest, publishers: PipelinedPublisher[]): Promise<Found> {
  const store = await under.open();
  try {
    const events = await readAll(store, MISSION);
    await assertContiguous(store, MISSION, events);
    const sequences = new Map<string, number>();
    const sent = new Set(publishers.flatMap((p) => p.sent));
    for (const event of events) {
      if (event.event_type !== 'message') continue;
      const body = JSON.parse(event.body) as { message_id: string; payload: unknown; sequence: number };
      assert.equal(sequences.has(event.event_id), false, `message ${event.event_id} is stored twice`);
      assert.ok(sent.has(event.event_id), `message ${event.event_id} is stored but was never sent`);
      assert.deepEqual(body.payload, PipelinedPublisher.payloadOf(event.event_id), `payload of ${event.event_id}`);
      sequences.set(event.event_id, event.sequence);
    }
    for (const publisher of publishers) {
      for (const [id, ack] of publisher.acked) {
        assert.equal(sequences.get(id), ack.sequence, `acknowledged message ${id} (sequence ${ack.sequence}) is stored at ${sequences.get(id)}`);
      }
    }
    return { events: events.length, messages: sequences.size, sequences };
  } finally {
    await store.close();
  }
}

async function killDuringPipelinedPublishes(under: StoreUnderTest, options: Options, report: (line: string) => void): Promise<number> {
  let child = await ChildServer.start(under.spec);
  const publishers: PipelinedPublisher[] = [];
  try {
    const anon = new MissionClient({ url: child.url });
    const created = await anon.createMission({ mission_id: MISSION, lead: { name: 'lead' } });
    const lead = anon.withToken(created.token, MISSION);
    for (let c = 0; c < CLIENTS; c++) {
      const { token } = await lead.addParticipant(`w${c}`, 'write');
      publishers.push(new PipelinedPublisher(`w${c}`, MISSION, token));
    }
    anon.close();

    let found: Found | undefined;
    for (let round = 1; round <= KILLS + 1; round++) {
      const final = round === KILLS + 1;
      const resend = publishers.map((p) => p.unacked());
      const resent = resend.reduce((n, ids) => n + ids.length, 0);
      const ackedBefore = publishers.reduce((n, p) => n + p.acked.size, 0);
      const killAt = randomInt(Math.floor((options.acksPerRound * 3) / 4), options.acksPerRound + 1);
      let acks = 0;
      let killed: Promise<void> | undefined;
      await Promise.all(
        publishers.map((publisher, c) =>
          publisher.run(child.url, {
            resend: resend[c]!,
            window: WINDOW,
            // The last round only resends; the others publish until the kill.
            more: () => !final && killed === undefined,
            onAck: (id, ack) => {
              // A resend answers 200 exactly when the dead server had made it durable, with that sequence.
              if (found && resend[c]!.includes(id)) {
                const stored = found.sequences.get(id);
                assert.equal(ack.status, stored === undefined ? 201 : 200, `resend of ${id}`);
                if (stored !== undefined) assert.equal(ack.sequence, stored, `resend of ${id} answers its stored sequence`);
              }
              if (!final && ++acks >= killAt && killed === undefined) killed = child.kill9();
            },
          }),
        ),
      );
      for (const publisher of publishers) assert.deepEqual(publisher.failures, [], `${publisher.name} got only 201/200 answers`);
      if (final) {
        assert.equal(killed, undefined);
        await child.stop();
      } else {
        assert.ok(killed, `round ${round}: the kill happened (after ${killAt} acks)`);
        await killed;
        await under.settle();
      }
      found = await inspect(under, publishers);
      const sent = publishers.reduce((n, p) => n + p.sent.length, 0);
      const acked = publishers.reduce((n, p) => n + p.acked.size, 0);
      const inFlightDurable = found.messages - acked;
      report(
        `${under.spec.store} round ${round}${final ? ' (graceful stop)' : ` (SIGKILL after ${acks} acks)`}: ` +
          `published ${sent} distinct (${resent} resent), acknowledged ${acked} (+${acked - ackedBefore}), ` +
          `found ${found.messages} messages / ${found.events} events, of which ${inFlightDurable} durable but unacknowledged`,
      );
      assert.ok(inFlightDurable >= 0);
      if (final) {
        // Everything ever sent is now stored exactly once and acknowledged.
        assert.equal(found.messages, sent);
        assert.equal(acked, sent);
      } else {
        child = await ChildServer.start(under.spec);
      }
    }
    return found!.messages;
  } finally {
    await child.stop();
    await under.cleanup();
  }
}

const skipPostgres = await skipUnlessPostgres();

describe('acknowledged publishes survive kill -9 exactly once', () => {
  it('SQLite (durability full)', { timeout: 120_000 }, async (t) => {
    const published = await killDuringPipelinedPublishes(sqliteUnderTest(), { acksPerRound: 16_000 }, (line) => t.diagnostic(line));
    t.diagnostic(`sqlite: ${published} messages stored exactly once`);
    assert.ok(published >= 36_000);
  });

  it('PostgreSQL', { timeout: 120_000, skip: skipPostgres }, async (t) => {
    const published = await killDuringPipelinedPublishes(postgresUnderTest(), { acksPerRound: 7_000 }, (line) => t.diagnostic(line));
    t.diagnostic(`postgres: ${published} messages stored exactly once`);
    assert.ok(published >= 15_750);
  });
});
