/**
 * A subscriber cut off as too slow gets a close frame (4008) and nothing after it (RFC 6455 §5.5.1): live
 * frames it had gathered for the next send round are dropped, not written behind the close frame.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RawWebSocket } from '../fuzz/websocket-frames.js';
import { createMission, startTestServer, waitFor, type TestMission, type TestServer } from './helpers.js';

const HIGH_WATER = 64 * 1024;

let t: TestServer;
let m: TestMission;
before(async () => {
  // Rounds may take 1% of the loop, so frames wait a few ms between rounds: a cut-off finds some queued.
  t = await startTestServer({ stream: { highWaterMark: HIGH_WATER, sendShare: 0.01, slowGraceMs: 10_000 } });
  m = await createMission(t, 'closing', { pub: 'write', slow: 'read' });
});
after(() => t.close());

test('cut off for reading too slowly: the close frame is the last frame, however many were queued', async () => {
  const from = (await m.as.lead!.mission()).last_sequence + 1;
  const slow = await RawWebSocket.open(t.server.url!, `/v1/missions/closing/ws?from=${from}`, m.tokens.slow!);
  slow.reading(false);
  await waitFor(() => t.server.stats().subscribers === 1, 5000, 'the subscriber');

  // Four writers each awaiting every publish: many small commits, several inside each pause between rounds,
  // so that when the cut-off comes, frames that passed the mark are still queued.
  const publisher = m.as.pub!.publisher();
  const pad = 'p'.repeat(4 * 1024);
  let published = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (t.server.stats().slowDisconnects === 0) {
        assert.ok(published++ < 50_000, 'the subscriber was never cut off');
        await publisher.publish('bulk', { published, pad });
      }
    }),
  );
  await publisher.drain();

  slow.reading(true);
  const observed = await slow.until((o) => o.closed, 10_000);
  assert.equal(observed.closeCode, 4008, 'closed as a slow consumer');
  assert.ok(observed.texts.length > 0, 'it received events before the cut-off');
  assert.equal(observed.afterClose, 0, 'no frame after the close frame');
  slow.destroy();
});
