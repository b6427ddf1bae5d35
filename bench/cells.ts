/**
 * Cell start overhead: median wall time of `launcher.run(['/usr/bin/true'])` per level minus the
 * median of a bare `spawn('/usr/bin/true')`, the two run alternately. `/usr/bin/true` is in every cell
 * (it comes with the read-only /usr), and is trivial enough that what is left is the cell's cost.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launcherFor, type CellLevel } from '../src/cells/index.js';
import { fmt, median, nowMs, percentile, progress, type Report } from './lib.js';

const RUNS = 50;
const WARMUP = 3;
const COMMAND = ['/usr/bin/true'];

/** Overhead targets per level, in milliseconds over a bare spawn. */
export const CELL_OVERHEAD_TARGET_MS: Readonly<Record<CellLevel, number>> = { 1: 5, 2: 25, 3: 300 };

function bareSpawn(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(COMMAND[0]!, COMMAND.slice(1), { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', () => resolve());
  });
}

/**
 * Times `cell` and a bare spawn alternately, so load from anything else on the host inflates both
 * alike; `WARMUP` untimed rounds first.
 */
async function sampleAgainstBare(label: string, cell: () => Promise<void>): Promise<{ bare: number[]; cell: number[] }> {
  for (let i = 0; i < WARMUP; i++) await cell();
  const times = { bare: [] as number[], cell: [] as number[] };
  for (let i = 0; i < RUNS; i++) {
    let started = nowMs();
    await bareSpawn();
    times.bare.push(nowMs() - started);
    started = nowMs();
    await cell();
    times.cell.push(nowMs() - started);
    if ((i + 1) % 10 === 0) progress(`${label}: ${i + 1}/${RUNS}`);
  }
  return times;
}

export async function benchCells(report: Report): Promise<void> {
  // 0711 so the level 3 cell user can reach the workspace when the bench runs as root.
  const root = mkdtempSync(join(tmpdir(), 'mb-bench-cells-'));
  chmodSync(root, 0o711);
  try {
    for (const level of [1, 2, 3] as const) {
      const launcher = launcherFor(level);
      progress(`checking ${launcher.name}`);
      const availability = await launcher.check();
      if (!availability.available) {
        report(`level ${level} ${launcher.name}: skipped — ${availability.reason} (fix: ${availability.fix})`);
        continue;
      }
      const workspace = join(root, `level${level}`);
      const times = await sampleAgainstBare(launcher.name, async () => {
        const result = await launcher.run({ level, workspace, command: COMMAND, env: {}, stdout: 'ignore', stderr: 'ignore' });
        if (result.exitCode !== 0) throw new Error(`${launcher.name}: ${COMMAND.join(' ')} exited ${result.exitCode ?? result.signal}`);
      });
      const bare = median(times.bare);
      const med = median(times.cell);
      const overhead = med - bare;
      const target = CELL_OVERHEAD_TARGET_MS[level];
      report(
        `level ${level} ${launcher.name}: median ${fmt(med, 1)} ms (p90 ${fmt(percentile(times.cell, 90), 1)}) vs bare spawn ${fmt(bare, 1)} ms; ` +
          `overhead +${fmt(overhead, 1)} ms (${fmt(med / bare, 1)}× bare), target < ${target} ms: ${overhead < target ? 'met' : 'MISSED'} (n=${RUNS})`,
      );
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
