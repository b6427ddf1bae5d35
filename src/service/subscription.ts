/**
 * Replay then live, with no gap and no duplicate: the subscription listens for commits first, then
 * replays from the store up to where the live stream takes over, dropping anything it already delivered.
 * Delivery is by sequence, so the hand-over point needs no lock.
 */
import type { StoredEvent } from '../store/contract.js';
import type { LiveMission } from './live-mission.js';

export interface SubscriptionSink {
  /** Called with events in sequence order, each exactly once. Return false to stop the subscription. */
  deliver(events: readonly StoredEvent[]): boolean | void;
}

const REPLAY_PAGE = 1000;

export class Subscription {
  private delivered: number;
  private buffered: StoredEvent[] = [];
  private replaying = true;
  private closed = false;
  private readonly unlisten: () => void;

  /** Starts delivering events with sequence >= `fromSequence` to `sink`. */
  constructor(
    private readonly mission: LiveMission,
    fromSequence: number,
    private readonly sink: SubscriptionSink,
  ) {
    this.delivered = Math.max(0, fromSequence - 1);
    this.unlisten = mission.onCommitted((events) => this.onLive(events));
    this.ready = this.replay();
  }

  /** Resolves when the replay has caught up with the live stream (or failed). */
  readonly ready: Promise<void>;

  /** The sequence of the last event handed to the sink. */
  get lastDelivered(): number {
    return this.delivered;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unlisten();
    this.buffered = [];
  }

  private async replay(): Promise<void> {
    try {
      while (!this.closed && this.delivered < this.mission.committedSequence) {
        const page = await this.mission.readEvents(this.delivered + 1, REPLAY_PAGE);
        if (page.length === 0) break;
        this.push(page);
      }
      this.replaying = false;
      const buffered = this.buffered;
      this.buffered = [];
      if (!this.closed) this.push(buffered);
    } catch (error) {
      this.close();
      throw error;
    }
  }

  private onLive(events: readonly StoredEvent[]): void {
    if (this.closed) return;
    if (this.replaying) this.buffered.push(...events);
    else this.push(events);
  }

  private push(events: readonly StoredEvent[]): void {
    let start = 0;
    while (start < events.length && events[start]!.sequence <= this.delivered) start++;
    if (start === events.length || this.closed) return;
    const fresh = start === 0 ? events : events.slice(start);
    this.delivered = fresh[fresh.length - 1]!.sequence;
    if (this.sink.deliver(fresh) === false) this.close();
  }
}
