/**
 * Live subscriptions over WebSocket and Server-Sent Events.
 *
 * Each subscriber first catches up page by page, paced by its socket (it waits for 'drain'), then hands
 * over to a `Subscription` (replay then live, no gap, no duplicate) from the next sequence. Live batches
 * are encoded once — one Buffer per committed batch and transport, cached by the batch — and the same
 * bytes are written to every subscriber, in paced send rounds (`SendRounds`).
 *
 * Memory is bounded per subscriber: a live batch that would push a socket that is already behind past
 * the high-water mark disconnects it instead (WebSocket close 4008, SSE `event: error`), and the client
 * resumes from the last sequence it received. A subscriber that stops reading during catch-up is
 * disconnected after `stallTimeoutMs`.
 *
 * Wire format: a WebSocket text message is a JSON array of events in sequence order; an SSE message is
 * one event, `id:` its sequence, `data:` its JSON.
 */
import type { Logger } from 'pino';
import type { LiveMission } from '../service/live-mission.js';
import { Subscription } from '../service/subscription.js';
import type { StoredEvent } from '../store/contract.js';
import { encodeFrame, type Encoding, type Outlet } from './outlets.js';
import { SendRounds } from './send-rounds.js';

export { CLOSE_GOING_AWAY, CLOSE_SLOW_CONSUMER, Outlet, SseOutlet, WebSocketOutlet } from './outlets.js';

export interface StreamOptions {
  /** Bytes a subscriber's socket may hold unsent before it is disconnected as too slow. Default 8 MiB. */
  highWaterMark: number;
  /** WebSocket ping / SSE comment interval; a WebSocket that misses a pong is dropped. Default 30 s. */
  heartbeatMs: number;
  /** How long a disconnected slow subscriber gets to read its close frame before the socket is destroyed. Default 5 s. */
  slowGraceMs: number;
  /** How long catch-up waits for a subscriber's socket to drain before disconnecting it. Default 30 s. */
  stallTimeoutMs: number;
  /**
   * The largest share of the event loop that writing live events to subscribers may take, in (0, 1].
   * Below it, each commit is written at once; above it, commits are gathered into fewer, larger writes.
   * Default 0.5.
   */
  sendShare: number;
}

export const DEFAULT_STREAM_OPTIONS: StreamOptions = {
  highWaterMark: 8 * 1024 * 1024,
  heartbeatMs: 30_000,
  slowGraceMs: 5_000,
  stallTimeoutMs: 30_000,
  sendShare: 0.5,
};

/** Events read from the store per catch-up page, at most; fewer while the socket takes fewer per drain. */
const CATCH_UP_PAGE = 256;

export interface StreamStats {
  subscribers: number;
  /** Frames encoded for live batches; with N subscribers on one batch this grows by one per transport, not N. */
  framesEncoded: number;
  /** Rounds of live writes; below `framesEncoded` when commits were gathered into fewer writes. */
  sendRounds: number;
  slowDisconnects: number;
}

/**
 * Writes `page` to `outlet` in frames of at most `frameBytes` (or one event) while the socket holds no
 * more than that; returns the last sequence it wrote, or undefined if none. The rest is left to be read
 * again.
 */
function writeWhileRoom(outlet: Outlet, page: readonly StoredEvent[], frameBytes: number): number | undefined {
  let start = 0;
  while (start < page.length && !outlet.closed && (start === 0 || outlet.buffered() <= frameBytes)) {
    let end = start + 1;
    let bytes = page[start]!.body.length;
    while (end < page.length && bytes + page[end]!.body.length <= frameBytes) bytes += page[end++]!.body.length;
    outlet.writeNow(encodeFrame(outlet.encoding, page.slice(start, end)));
    start = end;
  }
  return page[start - 1]?.sequence;
}

/** Tracks every live subscriber so shutdown can close them and stats can count them. */
export class SubscriberHub {
  private readonly outlets = new Set<Outlet>();
  private readonly frames: Record<Encoding, WeakMap<readonly StoredEvent[], Buffer>> = { ws: new WeakMap(), sse: new WeakMap() };
  private readonly counters = { subscribers: 0, framesEncoded: 0, slowDisconnects: 0 };
  private readonly rounds: SendRounds;

  constructor(
    readonly options: StreamOptions,
    readonly log: Logger,
  ) {
    this.rounds = new SendRounds(options.sendShare);
  }

  get stats(): StreamStats {
    return { ...this.counters, sendRounds: this.rounds.rounds };
  }

  get size(): number {
    return this.outlets.size;
  }

  /** Bytes written to subscribers' sockets and not yet sent, summed, and the largest single backlog. */
  backlog(): { total: number; largest: number } {
    let total = 0;
    let largest = 0;
    for (const outlet of this.outlets) {
      const buffered = outlet.buffered();
      total += buffered;
      largest = Math.max(largest, buffered);
    }
    return { total, largest };
  }

  /** The shared frame of a live batch: encoded the first time any subscriber needs it. */
  sharedFrame(encoding: Encoding, events: readonly StoredEvent[]): Buffer {
    const cache = this.frames[encoding];
    let frame = cache.get(events);
    if (!frame) {
      frame = encodeFrame(encoding, events);
      cache.set(events, frame);
      this.counters.framesEncoded++;
    }
    return frame;
  }

  /** Streams `mission` from `from` to `outlet` until either side closes. */
  async serve(mission: LiveMission, from: number, outlet: Outlet): Promise<void> {
    this.outlets.add(outlet);
    this.counters.subscribers = this.outlets.size;
    let subscription: Subscription | undefined;
    outlet.onClose(() => {
      subscription?.close();
      this.outlets.delete(outlet);
      this.counters.subscribers = this.outlets.size;
    });
    try {
      const next = await this.catchUp(mission, Math.max(1, from), outlet);
      if (next === undefined) return;
      subscription = new Subscription(mission, next, {
        deliver: (events) => {
          if (outlet.closed) return false;
          const frame = this.sharedFrame(outlet.encoding, events);
          const buffered = outlet.buffered();
          // An idle socket always takes the next frame, however large; one that is behind may not pass the mark.
          if (buffered > 0 && buffered + frame.length > this.options.highWaterMark) {
            this.slow(outlet, `${buffered} bytes unread; the limit is ${this.options.highWaterMark}`);
            return false;
          }
          this.rounds.send(outlet, frame);
          return true;
        },
      });
      await subscription.ready;
    } catch (error) {
      this.log.error({ err: error, mission_id: mission.missionId }, 'subscription failed');
      outlet.fail('the subscription failed on the server; resubscribe from your last sequence');
    }
  }

  /**
   * Writes the committed stream from `next` on, paced by the socket; returns where the live stream takes
   * over, or undefined when the subscriber went away or was cut off.
   *
   * Catch-up frames are this subscriber's own (live frames are shared), so what it holds is bounded by
   * bytes: frames of at most a quarter of the high-water mark (or one event), written while the socket
   * holds less than that. A page is read only when the socket has room and is dropped, unsent rest and
   * all, as soon as the socket is full; the rest is read again after the drain. Holding pages across
   * drains let a thousand subscribers resuming at once keep a page each on the heap (over 1 GB when
   * events were large).
   */
  private async catchUp(mission: LiveMission, next: number, outlet: Outlet): Promise<number | undefined> {
    const frameBytes = Math.max(1, Math.floor(this.options.highWaterMark / 4));
    let pageSize = CATCH_UP_PAGE;
    while (!outlet.closed && next <= mission.committedSequence) {
      if (outlet.buffered() > frameBytes && !(await outlet.drained(this.options.stallTimeoutMs))) {
        if (!outlet.closed) this.slow(outlet, `no progress reading the catch-up for ${this.options.stallTimeoutMs} ms`);
        return undefined;
      }
      if (outlet.closed) return undefined;
      const last = writeWhileRoom(outlet, await mission.readEvents(next, pageSize), frameBytes);
      if (last === undefined) break;
      // Next time read about twice what the socket took this time, at most a full page.
      pageSize = Math.min(CATCH_UP_PAGE, Math.max(1, (last - next + 1) * 2));
      next = last + 1;
    }
    return outlet.closed ? undefined : next;
  }

  private slow(outlet: Outlet, why: string): void {
    this.counters.slowDisconnects++;
    this.log.warn({ why }, 'disconnecting slow subscriber');
    outlet.kick(`slow consumer: ${why}; resubscribe from your last sequence`);
  }

  /** Closes every subscriber cleanly (WS 1001, SSE end); destroys those still open after `graceMs`. */
  async closeAll(graceMs: number): Promise<void> {
    const open = [...this.outlets];
    for (const outlet of open) outlet.shutdown();
    const deadline = Date.now() + graceMs;
    while (this.outlets.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    for (const outlet of this.outlets) outlet.drop();
  }

  /** Destroys every subscriber's socket at once, without a close frame (operations and tests). */
  dropAll(): void {
    for (const outlet of [...this.outlets]) outlet.drop();
  }
}

