/**
 * Live frames go out in rounds: a commit queues its frame on every subscriber and asks for a round; a
 * round writes what each subscriber gathered in one write. Rounds are paced so that writing to
 * subscribers takes at most `share` of the event loop: a round that took t ms is followed by a pause of
 * t·(1/share − 1) ms, at most `MAX_PAUSE_MS` (a round stretched by the OS descheduling the process must
 * not hold delivery back for long).
 *
 * Why: a write to a socket costs ~5–8 µs of system time however small it is, so with a hundred
 * subscribers one round costs ~0.5–1 ms, and with a thousand ~5–10 ms. Writing every commit at once lets
 * fan-out take the whole loop of a busy mission, with publishes waiting behind it. Paced rounds cost
 * nothing when a round is cheap (few subscribers: the next round runs at once) and, when it is not, put
 * several commits into one write per subscriber, which is also one read for each of them.
 */
import { performance } from 'node:perf_hooks';
import { InvalidInputError } from '../core/errors.js';
import type { Outlet } from './outlets.js';

/** The longest pause between two rounds, whatever the last one cost. */
export const MAX_PAUSE_MS = 4;

export class SendRounds {
  private readonly waiting = new Set<Outlet>();
  private scheduled = false;
  /** performance.now() before which the next round should not start. */
  private notBefore = 0;
  private completed = 0;

  /** `share`: the largest share of the event loop's time that rounds may take, in (0, 1]. */
  constructor(private readonly share: number) {
    if (!(share > 0 && share <= 1)) throw new InvalidInputError(`stream.sendShare must be above 0 and at most 1, not ${share}`);
  }

  /** Rounds run so far. */
  get rounds(): number {
    return this.completed;
  }

  /** Writes `frame` to `outlet` in the next round. */
  send(outlet: Outlet, frame: Buffer): void {
    outlet.queue(frame);
    this.waiting.add(outlet);
    if (this.scheduled) return;
    this.scheduled = true;
    const wait = this.notBefore - performance.now();
    // setTimeout cannot wait less than 1 ms; a shorter pause is as good as none.
    if (wait >= 1) setTimeout(() => this.run(), wait);
    else setImmediate(() => this.run());
  }

  private run(): void {
    this.scheduled = false;
    const started = performance.now();
    for (const outlet of this.waiting) outlet.flush();
    this.waiting.clear();
    this.completed++;
    const ended = performance.now();
    this.notBefore = ended + Math.min(MAX_PAUSE_MS, (ended - started) * (1 / this.share - 1));
  }
}
