/**
 * Publishing over the server's publish channel (one WebSocket, `GET /v1/missions/{id}/publish`): many
 * publishes in flight, each promise resolved with its event once the server made it durable.
 *
 * Every publish carries a `message_id` (the caller's, or a fresh UUIDv7), so sending it again is
 * idempotent. The publisher reconnects by itself (exponential backoff with jitter) and, on reconnect,
 * first sends again every publish that was sent but not acknowledged, in the original order: the server
 * answers those already durable with their first event, so nothing is lost and nothing is duplicated.
 */
import type { RawData, WebSocket } from 'ws';
import { errorFromWire, InvalidInputError, UnavailableError } from '../core/errors.js';
import type { JsonObject, MessageEvent } from '../core/events.js';
import { uuidv7 } from '../core/ids.js';
import { PUBLISH_RESEND_REASONS, type PublishAck, type PublishHello } from '../server/wire.js';
import { reconnectDelay, type ReconnectOptions } from './backoff.js';
import { watchRefusedUpgrade } from './refused-upgrade.js';

export interface PublisherOptions extends ReconnectOptions {
  /**
   * Most publishes sent and not yet acknowledged; more wait in the publisher until acks make room.
   * Capped by the window the server announces. Default 1,000.
   */
  window?: number;
  /**
   * Consecutive reconnects without an acknowledgement before every outstanding publish fails with
   * `UnavailableError` and the publisher closes. Default unlimited.
   */
  maxRetries?: number;
  /** Told about connections, disconnections and reconnects. */
  onStatus?: (status: PublisherStatus) => void;
}

export type PublisherStatus =
  /** `resending`: publishes sent on the previous connection without an ack, now sent again first. */
  | { type: 'connected'; window: number; resending: number }
  | { type: 'disconnected'; code: number; reason: string; unacknowledged: number }
  | { type: 'reconnecting'; delayMs: number; attempt: number }
  /** The server refused input it could not attribute to a publish (a bug in whoever built the frame). */
  | { type: 'protocol-error'; message: string };

export interface PublishOptions {
  /** Makes the publish idempotent under this id: the same id returns the first event. Default: a fresh UUIDv7. */
  messageId?: string;
}

/** Opens the publish channel's WebSocket. */
export type ConnectPublisher = () => WebSocket;

/** Publishes per frame, so a frame stays far below the server's frame limit. */
const FRAME_BYTES = 256 * 1024;

interface Outstanding {
  id: number;
  /** The frame item, serialized once and sent as is again on resend. */
  json: string;
  messageId: string;
  resolve: (event: MessageEvent) => void;
  reject: (error: unknown) => void;
}

export class MissionPublisher {
  private ws: WebSocket | undefined;
  /** Connected and greeted: the server's window is known. */
  private ready = false;
  private window: number;
  private maxFrameBytes = FRAME_BYTES;
  /** Waiting to be sent, in order (resends first). */
  private queue: Outstanding[] = [];
  private head = 0;
  /** Sent on the current connection and not acknowledged, in send order. */
  private readonly inFlight = new Map<number, Outstanding>();
  private nextId = 1;
  /** Publishes put back for resending by the last disconnection. */
  private requeued = 0;
  private sendScheduled = false;
  private closed = false;
  private fatal: unknown;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private idleWaiters: Array<() => void> = [];
  private readonly options: Required<Omit<PublisherOptions, 'onStatus'>> & Pick<PublisherOptions, 'onStatus'>;

  constructor(
    private readonly connectTo: ConnectPublisher,
    options: PublisherOptions = {},
  ) {
    this.options = {
      window: options.window ?? 1_000,
      minDelayMs: options.minDelayMs ?? 100,
      maxDelayMs: options.maxDelayMs ?? 5_000,
      maxRetries: options.maxRetries ?? Infinity,
      onStatus: options.onStatus,
    };
    if (!(this.options.window >= 1)) throw new InvalidInputError(`window must be at least 1, not ${options.window}`);
    this.window = this.options.window;
    this.connect();
  }

  /** Publishes sent or waiting to be sent, not yet acknowledged. */
  get pending(): number {
    return this.inFlight.size + this.queue.length - this.head;
  }

  /**
   * Publishes a message as the token's participant. Resolves with the event once it is durable; with a
   * `messageId` already published by this participant, with that first event.
   */
  publish(topic: string, payload: JsonObject, options: PublishOptions = {}): Promise<MessageEvent> {
    if (this.closed) return Promise.reject(this.closedError());
    const id = this.nextId++;
    const messageId = options.messageId ?? uuidv7();
    let json: string;
    try {
      json = JSON.stringify({ id, topic, payload, message_id: messageId });
    } catch (error) {
      return Promise.reject(new InvalidInputError(`the payload cannot be sent as JSON: ${(error as Error).message}`));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ id, json, messageId, resolve, reject });
      this.scheduleSend();
    });
  }

  /** Resolves once no publish is outstanding: each one acknowledged or failed. */
  flush(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Waits for every outstanding publish to settle, then closes. */
  async drain(): Promise<void> {
    await this.flush();
    this.close();
  }

  /**
   * Closes now. Publishes not yet acknowledged fail with `UnavailableError` whose `details.message_id`
   * names each: it may or may not be durable; publish it again with that `messageId` to find out
   * without duplicating it.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.ws?.close(1000, 'publisher closed');
    this.ws = undefined;
    this.failAll((entry) => this.closedError(entry.messageId));
  }

  private closedError(messageId?: string): unknown {
    if (this.fatal !== undefined) return this.fatal;
    return new UnavailableError(
      messageId === undefined
        ? 'the publisher is closed; create another to publish'
        : `the publisher closed before message '${messageId}' was acknowledged; it may or may not be durable: publish it again with messageId '${messageId}'`,
      messageId === undefined ? {} : { message_id: messageId },
    );
  }

  private connect(): void {
    if (this.closed) return;
    let ws: WebSocket;
    try {
      ws = this.connectTo();
    } catch (error) {
      this.fail(error);
      return;
    }
    this.ws = ws;
    this.ready = false;
    const upgrade = watchRefusedUpgrade(ws);
    ws.on('message', (data: RawData) => {
      if (this.ws === ws) this.onFrame(ws, data);
    });
    ws.on('error', () => undefined); // always followed by 'close', which decides what to do
    ws.on('close', (code: number, reason: Buffer) => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.ready = false;
      if (this.closed) return;
      this.options.onStatus?.({ type: 'disconnected', code, reason: reason.toString(), unacknowledged: this.inFlight.size });
      this.requeueInFlight();
      if (upgrade.fatal() !== undefined) this.fail(upgrade.fatal());
      else this.reconnect();
    });
  }

  private onFrame(ws: WebSocket, data: RawData): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(data.toString());
    } catch {
      ws.terminate(); // not our server: reconnect, resending what was not acknowledged
      return;
    }
    if (!Array.isArray(parsed)) {
      const hello = (parsed as Partial<PublishHello> | null)?.hello;
      if (!hello || this.ready) return;
      this.window = Math.max(1, Math.min(this.options.window, hello.window));
      this.maxFrameBytes = Math.min(FRAME_BYTES, Math.floor(hello.max_frame_bytes / 2));
      this.ready = true;
      if (this.queue.length === this.head) this.attempt = 0;
      this.options.onStatus?.({ type: 'connected', window: this.window, resending: this.requeued });
      this.requeued = 0;
      this.send();
      return;
    }
    for (const ack of parsed as PublishAck[]) {
      if (ack.id === null) {
        this.options.onStatus?.({ type: 'protocol-error', message: 'error' in ack ? ack.error.message : 'unattributed ack' });
        continue;
      }
      const entry = typeof ack.id === 'number' ? this.inFlight.get(ack.id) : undefined;
      if (!entry) continue;
      if ('event' in ack) {
        this.inFlight.delete(entry.id);
        this.attempt = 0;
        entry.resolve(ack.event);
      } else if (!PUBLISH_RESEND_REASONS.includes(String(ack.error.details?.reason))) {
        this.inFlight.delete(entry.id);
        entry.reject(errorFromWire(ack.error.code, ack.error.message, ack.error.details));
      }
      // A publish the server did not take (it is shutting down) stays in flight and is resent on reconnect.
    }
    this.send();
    this.notifyIdle();
  }

  private scheduleSend(): void {
    if (this.sendScheduled) return;
    this.sendScheduled = true;
    // Publishes made in the same turn go out in one frame.
    process.nextTick(() => {
      this.sendScheduled = false;
      this.send();
    });
  }

  /** Sends waiting publishes while the window has room, in frames of bounded size. */
  private send(): void {
    const ws = this.ws;
    if (!ws || !this.ready) return;
    while (this.head < this.queue.length && this.inFlight.size < this.window) {
      let frame = '[';
      while (this.head < this.queue.length && this.inFlight.size < this.window) {
        const entry = this.queue[this.head]!;
        if (frame.length > 1 && frame.length + entry.json.length > this.maxFrameBytes) break;
        frame += (frame.length > 1 ? ',' : '') + entry.json;
        this.inFlight.set(entry.id, entry);
        this.head++;
      }
      ws.send(frame + ']');
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  /** Puts every unacknowledged publish back at the front of the queue, in the order it was first sent. */
  private requeueInFlight(): void {
    this.requeued += this.inFlight.size;
    if (this.inFlight.size === 0) return;
    this.queue = [...this.inFlight.values(), ...this.queue.slice(this.head)];
    this.head = 0;
    this.inFlight.clear();
  }

  private reconnect(): void {
    if (this.closed) return;
    if (this.attempt >= this.options.maxRetries) {
      this.fail(new UnavailableError(`the publisher gave up after ${this.attempt} reconnects without an acknowledgement`, { unacknowledged: this.pending }));
      return;
    }
    const delayMs = reconnectDelay(this.attempt, this.options.minDelayMs, this.options.maxDelayMs);
    this.attempt++;
    this.options.onStatus?.({ type: 'reconnecting', delayMs, attempt: this.attempt });
    this.timer = setTimeout(() => this.connect(), delayMs);
  }

  /** Fails every outstanding publish with `error` and closes: retrying cannot help. */
  private fail(error: unknown): void {
    if (this.closed) return;
    this.fatal = error;
    this.closed = true;
    clearTimeout(this.timer);
    this.ws?.terminate();
    this.ws = undefined;
    this.failAll(() => error);
  }

  private failAll(errorFor: (entry: Outstanding) => unknown): void {
    const outstanding = [...this.inFlight.values(), ...this.queue.slice(this.head)];
    this.inFlight.clear();
    this.queue = [];
    this.head = 0;
    for (const entry of outstanding) entry.reject(errorFor(entry));
    this.notifyIdle();
  }

  private notifyIdle(): void {
    if (this.pending > 0 || this.idleWaiters.length === 0) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
