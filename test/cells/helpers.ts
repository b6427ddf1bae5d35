/** Shared fixtures for the cells tests: real launchers, host-side sandboxes, and in-cell node scripts. */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { TestContext } from 'node:test';
import { launcherFor, type CellLauncher, type CellLevel, type CellResult, type CellSpec } from '../../src/cells/index.js';

/**
 * The launcher for `level`, or `undefined` after marking the test skipped with the printed reason.
 * On CI (`CI=true`) a missing host feature fails the test instead: CI must prove containment.
 */
export async function launcherOrSkip(t: TestContext, level: CellLevel): Promise<CellLauncher | undefined> {
  const launcher = launcherFor(level);
  const availability = await launcher.check();
  if (availability.available) return launcher;
  const why = `${launcher.name} unavailable: ${availability.reason}; fix: ${availability.fix}`;
  if (process.env.CI === 'true') assert.fail(`CI must run every cell level — ${why}`);
  console.log(`skipping: ${why}`);
  t.skip(why);
  return undefined;
}

/**
 * A host directory for one test, removed afterwards. Mode 0711 so the level 3 cell user (another
 * uid when the tests run as root) can reach workspaces and sockets inside it, but not list it.
 */
export function hostDir(t: TestContext, prefix = 'mb-cells-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o711);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** What a cell printed and how it ended. */
export interface CellRun {
  result: CellResult;
  stdout: string;
  stderr: string;
}

/** Runs `node -e script` in a cell, collecting its output. */
export async function runNode(launcher: CellLauncher, workspace: string, script: string, spec: Partial<CellSpec> = {}): Promise<CellRun> {
  return runCell(launcher, { workspace, command: ['node', '-e', script], env: {}, ...spec });
}

/** Runs a command in a cell, collecting its output. */
export async function runCell(launcher: CellLauncher, spec: Omit<CellSpec, 'level'>): Promise<CellRun> {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  err.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const result = await launcher.run({ ...spec, level: launcher.level, stdout: out, stderr: err });
  return { result, stdout, stderr };
}

/** Parses the last stdout line as JSON, with the cell's stderr in the failure message. */
export function lastJson<T>(run: CellRun): T {
  const line = run.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    assert.fail(`cell printed no JSON (exit ${run.result.exitCode}, signal ${run.result.signal}); stdout: ${run.stdout}; stderr: ${run.stderr}`);
  }
}

/** Host pids whose command line contains `marker` (the host sees every cell's processes). */
export function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker)) found.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/** Polls until `predicate` holds or `ms` pass; returns whether it held. */
export async function eventually(predicate: () => boolean, ms = 3_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (predicate()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return predicate();
}

export const ALL_LEVELS: readonly CellLevel[] = [1, 2, 3];
