/**
 * The publish channel: publishing over one WebSocket (`GET /v1/missions/{id}/publish`) instead of one
 * HTTP request per event, which is what made the REST route slow, not the store.
 *
 * Each publish is validated with the REST route's schema and handed to `LiveMission.submit` as the
 * token's participant, so group commit, audit and idempotency (`message_id`) apply unchanged; it is
 * acknowledged only once its event is durable. Acks that become ready in one turn of the event loop
 * (one group commit) leave in one frame, carrying the stored JSON of each event as is.
 *
 * Bounds per connection: at most `window` publishes unacknowledged (at the window the server stops
 * reading the socket; publishes beyond it that were already read are refused with `window_full`), frames
 * of at most `maxFrameBytes` (larger ones close the connection with 1009), and at most `highWaterMark`
 * bytes of unsent acks (beyond it the server stops reading until the client reads its acks).
 *
 * Shutdown is graceful: the server stops reading, waits until every publish it took is durable (or
 * refused) and acknowledged, then closes with 1001. Publishes it read but did not take are refused with
 * reason `shutting_down`, which tells the client to send them again after reconnecting.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { InvalidInputError, UnavailableError } from '../core/errors.js';
import type { Command } from '../core/commands.js';
import type { CommandSchemas } from '../core/schemas.js';
import { parseWith } from '../core/validate.js';
import type { LiveMission } from '../service/live-mission.js';
import { toHttpError } from './http-error.js';
import { CLOSE_GOING_AWAY } from './stream.js';
import { DEFAULT_PUBLISH_WINDOW, publishFrameId, type PublishFrameId, type PublishHello } from './wire.js';
import { keepAlive } from './heartbeat.js';

export interface PublishChannelOptions {
  /** Unacknowledged publishes per connection; at the window the server stops reading. Default 4096. */
  window: number;
  /** Largest client frame in bytes; a larger one closes the connection with 1009. Default: the server's body limit (1 MiB). */
  maxFrameBytes: number;
  /** Unsent ack bytes per connection beyond which the server stops reading until the client catches up. Default 8 MiB. */
  highWaterMark: number;
  /** Ping interval; a connection that misses a pong is dropped. Default 30 s. */
  heartbeatMs: number;
}

export const DEFAULT_PUBLISH_CHANNEL_OPTIONS: PublishChannelOptions = {
  window: DEFAULT_PUBLISH_WINDOW,
  maxFrameBytes: 1024 * 1024,
  highWaterMark: 8 * 1024 * 1024,
  heartbeatMs: 30_000,
};

/**
 * Publishes one connection hands to the mission per turn of the event loop: half a default client
 * window, so the client refills one half while the server commits the other.
 */
const SLICE = 512;

/** Every open publish channel of a server, for upgrades, stats and shutdown. */
export class PublishChannels {
  private readonly wss: WebSocketServer;
  private readonly channels = new Set<PublishChannel>();

  constructor(
    readonly options: PublishChannelOptions,
    /** The REST route's body schema (`POST /v1/missions/{id}/messages`): one definition of a valid publish. */
    readonly schema: CommandSchemas['publish'],
    readonly log: Logger,
  ) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: options.maxFrameBytes, perMessageDeflate: false, clientTracking: false });
  }

  get size(): number {
    return this.channels.size;
  }

  /** Publishes taken and not yet acknowledged, over every connection. */
  inFlight(): number {
    let total = 0;
    for (const channel of this.channels) total += channel.pending;
    return total;
  }

  /** Completes an authenticated upgrade: from now on `actor` publishes to `mission` over this socket. */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer, mission: LiveMission, actor: string): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const channel = new PublishChannel(ws, socket, mission, actor, this);
      this.channels.add(channel);
      ws.once('close', () => this.channels.delete(channel));
    });
  }

  /** Acknowledges what every connection took, closes them with 1001, and destroys those still open after `graceMs`. */
  async closeAll(graceMs: number): Promise<void> {
    for (const channel of this.channels) channel.shutdown();
    const deadline = Date.now() + graceMs;
    while (this.channels.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    for (const channel of this.channels) channel.drop();
    this.wss.close();
  }

  /** Destroys every connection at once, without a close frame (operations and tests). */
  dropAll(): void {
    for (const channel of [...this.channels]) channel.drop();
  }
}

class PublishChannel {
  /** Publishes taken (validated, counted against the window) and not yet acknowledged. */
  pending = 0;
  private acks: string[] = [];
  /** Validated publishes not yet handed to the mission, in arrival order. */
  private accepted: Array<{ prefix: string; command: Command }> = [];
  private acceptedHead = 0;
  private sliceScheduled = false;
  private flushScheduled = false;
  private paused = false;
  private awaitingDrain = false;
  private closing = false;
  private readonly options: PublishChannelOptions;

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Duplex,
    private readonly mission: LiveMission,
    private readonly actor: string,
    private readonly hub: PublishChannels,
  ) {
    this.options = hub.options;
    ws.on('message', (data) => this.onFrame(data));
    ws.on('error', () => ws.terminate());
    keepAlive(ws, this.options.heartbeatMs);
    const hello: PublishHello = {
      hello: { mission_id: mission.missionId, participant: actor, window: this.options.window, max_frame_bytes: this.options.maxFrameBytes },
    };
    ws.send(JSON.stringify(hello));
  }

  /** Stops reading; once everything taken is acknowledged, closes with 1001. */
  shutdown(): void {
    if (this.closing) return;
    this.closing = true;
    this.updateFlow();
    this.closeWhenSettled();
  }

  drop(): void {
    this.ws.terminate();
  }

  private onFrame(data: RawData): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text(data));
    } catch (error) {
      this.refuse(null, new InvalidInputError(`the frame is not valid JSON: ${(error as Error).message}`, { reason: 'malformed_json' }));
      return;
    }
    if (Array.isArray(parsed)) {
      if (parsed.length === 0) {
        this.refuse(null, new InvalidInputError('the frame is an empty array; send one publish or an array of them', { reason: 'malformed_frame' }));
      }
      for (const item of parsed) this.take(item);
    } else {
      this.take(parsed);
    }
    this.updateFlow();
  }

  /** Validates one publish and queues it for the mission; every item gets exactly one ack. */
  private take(item: unknown): void {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      this.refuse(null, new InvalidInputError('each publish must be an object {id, topic, payload, message_id?}', { reason: 'malformed_frame' }));
      return;
    }
    const { id, ...body } = item as Record<string, unknown>;
    if (!publishFrameId.safeParse(id).success) {
      this.refuse(null, new InvalidInputError("each publish needs an 'id': a non-negative integer or a string of 1 to 128 characters, echoed in its ack", { reason: 'malformed_frame' }));
      return;
    }
    if (this.closing) {
      this.refuse(id as PublishFrameId, new UnavailableError('the server is shutting down; send this publish again (same message_id) after reconnecting', { reason: 'shutting_down' }));
      return;
    }
    if (this.pending >= this.options.window) {
      this.refuse(id as PublishFrameId, new UnavailableError(`more than ${this.options.window} publishes unacknowledged on this connection; wait for acks before sending more`, { reason: 'window_full', window: this.options.window }));
      return;
    }
    let input: ReturnType<CommandSchemas['publish']['parse']>;
    try {
      input = parseWith(this.hub.schema, body, 'publish');
    } catch (error) {
      this.refuse(id as PublishFrameId, error);
      return;
    }
    this.pending++;
    this.accepted.push({ prefix: `{"id":${JSON.stringify(id)},`, command: { kind: 'publish', ...input } });
    if (this.sliceScheduled) return;
    this.sliceScheduled = true;
    process.nextTick(() => this.submitSlice());
  }

  /**
   * Hands at most `SLICE` accepted publishes to the mission per turn of the event loop. A window's worth
   * in one group commit would be acknowledged all at once, leaving the client idle while the server
   * works and the server idle while the client refills the window; slices overlap the two.
   */
  private submitSlice(): void {
    const count = Math.min(SLICE, this.accepted.length - this.acceptedHead);
    for (let i = 0; i < count; i++) {
      const { prefix, command } = this.accepted[this.acceptedHead++]!;
      this.mission.submit(this.actor, command).then(
        (result) => this.settled(`${prefix}"event":${result.body}}`),
        (error: unknown) => this.settled(`${prefix}${errorJson(error, this.hub.log)}}`),
      );
    }
    if (this.acceptedHead < this.accepted.length) {
      setImmediate(() => this.submitSlice());
      return;
    }
    this.accepted = [];
    this.acceptedHead = 0;
    this.sliceScheduled = false;
  }

  private settled(ack: string): void {
    this.pending--;
    this.queue(ack);
  }

  private refuse(id: PublishFrameId | null, error: unknown): void {
    this.queue(`{"id":${JSON.stringify(id)},${errorJson(error, this.hub.log)}}`);
  }

  private queue(ack: string): void {
    this.acks.push(ack);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // After the promise jobs of this turn: every ack of one group commit goes out in one frame.
    process.nextTick(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const acks = this.acks;
    this.acks = [];
    if (this.ws.readyState !== this.ws.OPEN) return; // the client resends what it did not see acknowledged
    this.ws.send(acks.length === 1 ? `[${acks[0]}]` : `[${acks.join(',')}]`);
    this.updateFlow();
    if (this.closing) this.closeWhenSettled();
  }

  /** Reads only while the window has room, unsent acks are under the mark, and the channel is not closing. */
  private updateFlow(): void {
    const backlogged = this.ws.bufferedAmount > this.options.highWaterMark;
    const stop = this.closing || backlogged || this.pending >= this.options.window;
    if (stop && !this.paused) {
      this.paused = true;
      this.ws.pause();
    } else if (!stop && this.paused) {
      this.paused = false;
      this.ws.resume();
    }
    if (backlogged && !this.awaitingDrain) {
      this.awaitingDrain = true;
      this.socket.once('drain', () => {
        this.awaitingDrain = false;
        this.updateFlow();
      });
    }
  }

  private closeWhenSettled(): void {
    if (this.pending > 0 || this.flushScheduled) return;
    this.ws.resume(); // to read the client's reply to the close frame
    this.ws.close(CLOSE_GOING_AWAY, 'server shutting down; reconnect and resend unacknowledged publishes');
  }
}

function text(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

/** `"error":{code,message,details}` — the same body an HTTP route answers with. */
function errorJson(error: unknown, log: Logger): string {
  const { status, body } = toHttpError(error);
  if (status >= 500 && status !== 503) log.error({ err: error }, 'publish failed');
  return `"error":${JSON.stringify(body.error)}`;
}
