/**
 * Live events reach WebSocket subscribers as frames the server builds itself (all three WebSocket length
 * encodings) and writes in paced rounds: when rounds may take little of the event loop, several commits
 * go out in one round, and every subscriber still gets every event once, in order, each message a JSON
 * array of events.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import type { MissionEvent } from '../../src/core/events.js';
import { createMission, startTestServer, waitFor, type TestMission, type TestServer } from './helpers.js';

let t: TestServer;
let m: TestMission;
before(async () => {
  // Rounds may take 1% of the loop: each round is followed by a pause, so commits pile up between rounds.
  t = await startTestServer({ stream: { sendShare: 0.01 } });
  m = await createMission(t, 'rounds', { pub: 'write', reader: 'read' });
});
after(() => t.close());

/** A bare WebSocket subscriber that records every event and each message's event count. */
function rawSubscriber(from: number, until: number): { done: Promise<{ sequences: number[]; messages: number; sizes: number[] }>; open: Promise<void> } {
  const url = `${t.server.url!.replace(/^http/, 'ws')}/v1/missions/${m.missionId}/ws?from=${from}`;
  const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${m.tokens.reader}` } });
  const sequences: number[] = [];
  const sizes: number[] = [];
  let messages = 0;
  const open = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const done = new Promise<{ sequences: number[]; messages: number; sizes: number[] }>((resolve, reject) => {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      assert.equal(isBinary, false, 'events come as text messages');
      const events = JSON.parse(data.toString()) as MissionEvent[];
      assert.ok(Array.isArray(events) && events.length > 0, 'each message is a non-empty JSON array');
      messages++;
      sizes.push(data.length);
      for (const event of events) sequences.push(event.sequence);
      if (sequences.at(-1)! >= until) {
        ws.close();
        resolve({ sequences, messages, sizes });
      }
    });
    ws.on('close', (code) => {
      if (sequences.at(-1) !== until) reject(new Error(`closed with ${code} after sequence ${sequences.at(-1)}`));
    });
  });
  return { done, open };
}

test('pipelined commits are gathered into fewer writes; twenty bare subscribers each get every event once, in order', async () => {
  const SUBSCRIBERS = 20;
  const PUBLISHES = 600;
  const from = (await m.as.lead!.mission()).last_sequence + 1;
  const until = from + PUBLISHES - 1;
  const subscribers = Array.from({ length: SUBSCRIBERS }, () => rawSubscriber(from, until));
  await Promise.all(subscribers.map((s) => s.open));
  await waitFor(() => t.server.stats().subscribers === SUBSCRIBERS, 5000, 'subscribers');
  const before = t.server.stats();

  // Four writers each awaiting every publish: many small commits. Frames under 126 bytes are impossible
  // (an event is longer), so 16-bit lengths for most and 64-bit lengths (over 65,535 bytes) for some.
  const publisher = m.as.pub!.publisher();
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < PUBLISHES) {
        const i = next++;
        await publisher.publish('gathered', { i, pad: i % 100 === 0 ? 'x'.repeat(70_000) : 'y'.repeat(i % 7) });
      }
    }),
  );
  await publisher.drain();

  const expected = Array.from({ length: PUBLISHES }, (_, i) => from + i);
  for (const { done } of subscribers) {
    const got = await done;
    assert.deepEqual(got.sequences, expected, 'every event once, in order');
    assert.ok(got.sizes.some((size) => size > 65_535), 'a message over 65,535 bytes arrived whole');
  }
  const after = t.server.stats();
  const commits = after.framesEncoded - before.framesEncoded;
  const rounds = after.sendRounds - before.sendRounds;
  assert.ok(rounds < commits, `commits gathered into rounds: ${commits} commits went out in ${rounds} rounds`);
});

test('a subscriber joining mid-stream gets exactly the events from its starting point', async () => {
  const first = (await m.as.pub!.publish('early', {})).sequence;
  const late = rawSubscriber(first + 1, first + 50);
  await late.open;
  const publisher = m.as.pub!.publisher();
  await Promise.all(Array.from({ length: 50 }, (_, i) => publisher.publish('late', { i })));
  await publisher.drain();
  const got = await late.done;
  assert.deepEqual(got.sequences, Array.from({ length: 50 }, (_, i) => first + 1 + i));
});
