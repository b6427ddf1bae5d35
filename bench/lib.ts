/** Small helpers shared by the benchmarks: timing, statistics, progress, temp dirs. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uuidv7 } from '../src/core/ids.js';
import type { MessageEvent } from '../src/core/events.js';
import type { StoredEvent } from '../src/store/contract.js';

export type Report = (line: string) => void;

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export async function withTempDir<T>(prefix: string, body: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    return await body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Prints progress on stderr (kept off the report lines on stdout). */
export function progress(message: string): void {
  process.stderr.write(`  … ${message}\n`);
}

/** A message event as the store receives it, with the sequence and a writer number in its payload. */
export function messageRow(sequence: number, writers: number): StoredEvent {
  const id = uuidv7();
  const event: MessageEvent = {
    event_type: 'message',
    sender: 'ezra',
    sequence,
    timestamp: new Date().toISOString(),
    topic: 'progress',
    payload: { writer: sequence % writers, i: sequence },
    message_id: id,
  };
  return { sequence, event_type: 'message', event_id: id, body: JSON.stringify(event) };
}
