/**
 * A publisher for the crash tests: one participant on one pipelined HTTP connection, keeping up to
 * `window` publishes in flight. Every publish carries a message_id (`<name>-<n>`), so an unanswered one
 * can be sent again after a restart and idempotent publish keeps it from being stored twice.
 */
import { ConnectionClosedError, HttpConnection, type WireReply } from './http-connection.js';

export interface Ack {
  sequence: number;
  /** 201: created by this request; 200: it was already in the stream (an idempotent resend). */
  status: 201 | 200;
}

export class PipelinedPublisher {
  /** Every message_id sent at least once, in order. */
  readonly sent: string[] = [];
  private readonly sentSet = new Set<string>();
  /** Acknowledged message_ids with the sequence the server answered. */
  readonly acked = new Map<string, Ack>();
  /** Answers that were neither 201 nor 200: none are expected. */
  readonly failures: string[] = [];
  private counter = 0;

  constructor(
    readonly name: string,
    private readonly missionId: string,
    private readonly token: string,
  ) {}

  /** The payload a message_id is published with, so the stored body can be checked. */
  static payloadOf(messageId: string): { id: string; pad: string } {
    return { id: messageId, pad: 'p'.repeat(64) };
  }

  /** Sent but never answered (the server died first). */
  unacked(): string[] {
    return this.sent.filter((id) => !this.acked.has(id));
  }

  /**
   * Sends `resend` (in order), then fresh messages while `more()` says so, keeping `window` in flight,
   * until everything sent is answered or the connection closes. `onAck` is called for each answer.
   */
  async run(url: string, options: { resend: string[]; window: number; more: () => boolean; onAck?: (id: string, ack: Ack) => void }): Promise<void> {
    const connection = await HttpConnection.open(url);
    const pending = [...options.resend];
    const inFlight = new Set<Promise<void>>();
    const path = `/v1/missions/${encodeURIComponent(this.missionId)}/messages`;
    const headers = { Authorization: `Bearer ${this.token}`, 'Content-Type': 'application/json' };
    try {
      for (;;) {
        while (inFlight.size < options.window && !connection.closed) {
          const id = pending.length > 0 ? pending.shift()! : options.more() ? `${this.name}-${this.counter++}` : undefined;
          if (id === undefined) break;
          if (!this.sentSet.has(id)) {
            this.sentSet.add(id);
            this.sent.push(id);
          }
          const body = JSON.stringify({ topic: 'load', payload: PipelinedPublisher.payloadOf(id), message_id: id });
          const request = connection.request('POST', path, headers, body).then(
            (reply) => this.answered(id, reply, options.onAck),
            (error: unknown) => {
              if (!(error instanceof ConnectionClosedError) && (error as NodeJS.ErrnoException).code !== 'ECONNRESET' && (error as NodeJS.ErrnoException).code !== 'EPIPE') {
                this.failures.push(`${id}: ${(error as Error).message}`);
              }
            },
          );
          inFlight.add(request);
          void request.finally(() => inFlight.delete(request));
        }
        if (inFlight.size === 0) return;
        await Promise.race(inFlight);
      }
    } finally {
      connection.close();
    }
  }

  private answered(id: string, reply: WireReply, onAck?: (id: string, ack: Ack) => void): void {
    if (reply.status !== 201 && reply.status !== 200) {
      this.failures.push(`${id}: HTTP ${reply.status} ${reply.body.toString().slice(0, 300)}`);
      return;
    }
    const event = JSON.parse(reply.body.toString()) as { message_id: string; sequence: number };
    if (event.message_id !== id) {
      this.failures.push(`${id}: answered with message ${event.message_id}`);
      return;
    }
    const ack: Ack = { sequence: event.sequence, status: reply.status };
    this.acked.set(id, ack);
    onAck?.(id, ack);
  }
}
