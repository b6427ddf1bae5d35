/**
 * A live subscription as an `AsyncIterable<MissionEvent>`: replay from `from`, then live, over a
 * WebSocket that reconnects by itself (exponential backoff with jitter) and resumes from the last
 * sequence it delivered. Every event is checked to be last + 1: a duplicate is dropped, a gap makes it
 * resubscribe from last + 1 — so the iterator yields each sequence exactly once, in order.
 */
import type { RawData, WebSocket } from 'ws';
import { UnavailableError } from '../core/errors.js';
import type { MissionEvent } from '../core/events.js';
import { reconnectDelay, type ReconnectOptions } from './backoff.js';
import { watchRefusedUpgrade } from './refused-upgrade.js';

export interface SubscribeOptions extends ReconnectOptions {
  /** First sequence to deliver. Default 1 (the whole stream). */
  from?: number;
  /** Consecutive reconnects without progress before the iterator fails with `UnavailableError`. Default unlimited. */
  maxRetries?: number;
  /** Stop reading the socket while this many events wait unconsumed (the server then sees backpressure). Default 1,000. */
  maxQueued?: number;
  /** Told about connections, disconnections, reconnects and detected gaps. */
  onStatus?: (status: SubscriptionStatus) => void;
}

export type SubscriptionStatus =
  | { type: 'connected'; from: number }
  | { type: 'disconnected'; code: number; reason: string }
  | { type: 'reconnecting'; from: number; delayMs: number; attempt: number }
  | { type: 'gap'; expected: number; got: number };

/** Opens a WebSocket delivering events from `from`. */
export type Connect = (from: number) => WebSocket;


export class MissionSubscription implements AsyncIterable<MissionEvent> {
  private last: number;
  private ws: WebSocket | undefined;
  private queue: MissionEvent[] = [];
  private head = 0;
  private waiter: { resolve: (result: IteratorResult<MissionEvent>) => void; reject: (error: unknown) => void } | undefined;
  private failure: unknown;
  private closed = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private iterating = false;
  private readonly options: Required<Omit<SubscribeOptions, 'onStatus' | 'from'>> & Pick<SubscribeOptions, 'onStatus'>;

  constructor(
    private readonly connectTo: Connect,
    options: SubscribeOptions = {},
  ) {
    this.last = Math.max(0, (options.from ?? 1) - 1);
    this.options = {
      minDelayMs: options.minDelayMs ?? 100,
      maxDelayMs: options.maxDelayMs ?? 5_000,
      maxRetries: options.maxRetries ?? Infinity,
      maxQueued: options.maxQueued ?? 1_000,
      onStatus: options.onStatus,
    };
    this.connect();
  }

  /** The sequence of the last event received (delivered or queued for delivery). */
  get lastSequence(): number {
    return this.last;
  }

  /** Stops the subscription; the iterator ends (events received but not yet consumed are dropped). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.ws?.close(1000, 'client closed');
    this.ws = undefined;
    this.queue = [];
    this.head = 0;
    this.settle();
  }

  [Symbol.asyncIterator](): AsyncIterator<MissionEvent> {
    if (this.iterating) throw new Error('a MissionSubscription can be iterated only once; subscribe again for a second reader');
    this.iterating = true;
    return {
      next: () => this.next(),
      return: async () => {
        this.close();
        return { value: undefined, done: true };
      },
    };
  }

  private next(): Promise<IteratorResult<MissionEvent>> {
    if (this.head < this.queue.length) {
      const value = this.queue[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      if (this.ws?.isPaused && this.queue.length - this.head <= this.options.maxQueued / 2) this.ws.resume();
      return Promise.resolve({ value, done: false });
    }
    if (this.failure !== undefined) {
      const failure = this.failure;
      this.failure = undefined;
      this.closed = true;
      return Promise.reject(failure);
    }
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  private connect(): void {
    if (this.closed) return;
    const from = this.last + 1;
    let ws: WebSocket;
    try {
      ws = this.connectTo(from);
    } catch (error) {
      this.fail(error);
      return;
    }
    this.ws = ws;
    const upgrade = watchRefusedUpgrade(ws);
    ws.on('open', () => this.options.onStatus?.({ type: 'connected', from }));
    ws.on('message', (data: RawData) => this.onFrame(ws, data));
    ws.on('error', () => undefined); // always followed by 'close', which decides what to do
    ws.on('close', (code: number, reason: Buffer) => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      if (this.closed) return;
      this.options.onStatus?.({ type: 'disconnected', code, reason: reason.toString() });
      if (upgrade.fatal() !== undefined) this.fail(upgrade.fatal());
      else this.reconnect();
    });
  }

  private onFrame(ws: WebSocket, data: RawData): void {
    if (this.ws !== ws || this.closed) return;
    let events: MissionEvent[];
    try {
      const parsed: unknown = JSON.parse(data.toString());
      if (!Array.isArray(parsed)) throw new Error('not an array');
      events = parsed as MissionEvent[];
    } catch {
      ws.terminate();
      return;
    }
    let progressed = false;
    for (const event of events) {
      if (typeof event?.sequence !== 'number' || event.sequence <= this.last) continue;
      if (event.sequence !== this.last + 1) {
        this.options.onStatus?.({ type: 'gap', expected: this.last + 1, got: event.sequence });
        // Drop this connection and resubscribe from the first missing sequence.
        this.ws = undefined;
        ws.terminate();
        this.reconnect(progressed);
        return;
      }
      this.last = event.sequence;
      progressed = true;
      this.push(event);
    }
    if (progressed) this.attempt = 0;
    if (this.queue.length - this.head >= this.options.maxQueued && !ws.isPaused) ws.pause();
  }

  private push(event: MissionEvent): void {
    if (this.waiter) {
      const { resolve } = this.waiter;
      this.waiter = undefined;
      resolve({ value: event, done: false });
    } else {
      this.queue.push(event);
    }
  }

  private reconnect(immediately = false): void {
    if (this.closed) return;
    if (this.attempt >= this.options.maxRetries) {
      this.fail(new UnavailableError(`subscription gave up after ${this.attempt} reconnects without progress`, { last_sequence: this.last }));
      return;
    }
    const delayMs = immediately ? 0 : reconnectDelay(this.attempt, this.options.minDelayMs, this.options.maxDelayMs);
    this.attempt++;
    this.options.onStatus?.({ type: 'reconnecting', from: this.last + 1, delayMs, attempt: this.attempt });
    this.timer = setTimeout(() => this.connect(), delayMs);
  }

  private fail(error: unknown): void {
    if (this.closed) return;
    this.failure = error;
    clearTimeout(this.timer);
    this.ws?.terminate();
    this.ws = undefined;
    this.settle();
  }

  /** Wakes a pending `next()` with the failure or the end. */
  private settle(): void {
    const waiter = this.waiter;
    if (!waiter) return;
    this.waiter = undefined;
    if (this.failure !== undefined) {
      const failure = this.failure;
      this.failure = undefined;
      this.closed = true;
      waiter.reject(failure);
    } else {
      waiter.resolve({ value: undefined, done: true });
    }
  }
}
