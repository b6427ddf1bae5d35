/**
 * Runs one cell process and turns its life into a {@link CellResult}: output streaming, timeout,
 * abort, process-group cleanup and exit-status mapping are the same at every level.
 *
 * @module
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import type { CellOutput, CellResult, CellSpec } from './contract.js';

/** What an adapter asks the runner to spawn. */
export interface Launch {
  file: string;
  args: readonly string[];
  env: Record<string, string>;
  cwd?: string;
  /** Drop to this uid/gid (and no supplementary groups) before exec; needs root. */
  uid?: number;
  gid?: number;
  /** Written to the child's fd 3 and then closed (bubblewrap reads `--args 3` from it). */
  fd3?: Buffer;
  /**
   * The spawned file is a runtime (bwrap, podman) that reports a command killed by signal N as
   * exit status 128 + N; map that back to a signal.
   */
  runtimeExitStatus: boolean;
  /**
   * Kills the cell tree on timeout or abort. Default: SIGKILL to the child's process group.
   * Level 3 also removes the container, whose processes are not in our process group.
   */
  stop?: (child: ChildProcess) => Promise<void>;
}

/** How long to wait for output pipes to drain after the cell exited before cutting them. */
const DRAIN_GRACE_MS = 1_000;

/** SIGKILL to the whole process group led by `child` (it was spawned detached, so it leads one). */
export function killProcessGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

function stdioFor(output: CellOutput | undefined): 'inherit' | 'ignore' | 'pipe' {
  if (output === undefined || output === 'inherit') return 'inherit';
  if (output === 'ignore') return 'ignore';
  return 'pipe';
}

function forward(source: Readable | null, output: CellOutput | undefined): void {
  if (source && output !== undefined && typeof output !== 'string') source.pipe(output as NodeJS.WritableStream, { end: false });
}

const signalNames = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, number]) => [number, name as NodeJS.Signals]),
);

function abortError(signal: AbortSignal): Error {
  const error = new Error('cell run aborted before it started', { cause: signal.reason });
  error.name = 'AbortError';
  return error;
}

/**
 * Spawns `launch`, applies `spec`'s output, timeout and abort handling, and resolves once the
 * process has exited, its process group is dead and its output has drained.
 */
export async function runLaunch(launch: Launch, spec: CellSpec): Promise<CellResult> {
  if (spec.signal?.aborted) throw abortError(spec.signal);
  const stdio: StdioOptions = [spec.stdin ?? 'ignore', stdioFor(spec.stdout), stdioFor(spec.stderr)];
  if (launch.fd3) stdio.push('pipe');
  const started = performance.now();
  const child = spawn(launch.file, launch.args, {
    cwd: launch.cwd,
    env: launch.env,
    stdio,
    // Own process group (setsid): a group kill reaches every descendant that did not leave it.
    detached: true,
    uid: launch.uid,
    gid: launch.gid,
  });
  forward(child.stdout, spec.stdout);
  forward(child.stderr, spec.stderr);
  if (launch.fd3) {
    const fd3 = child.stdio[3] as NodeJS.WritableStream & { on(event: 'error', listener: () => void): unknown };
    fd3.on('error', () => {}); // the runtime may exit before reading it; its exit status says why
    fd3.end(launch.fd3);
  }

  let timedOut = false;
  let aborted = false;
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (launch.stop ?? (async (c: ChildProcess) => killProcessGroup(c)))(child).catch(() => killProcessGroup(child));
  };
  const timer = spec.timeoutMs === undefined ? undefined : setTimeout(() => ((timedOut = true), stop()), spec.timeoutMs);
  const onAbort = () => ((aborted = true), stop());
  spec.signal?.addEventListener('abort', onAbort, { once: true });

  try {
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', (error: NodeJS.ErrnoException) => {
        // spawn() failed (command missing or not executable): report it like a shell would.
        if (child.pid !== undefined) return;
        const status = error.code === 'ENOENT' ? 127 : error.code === 'EACCES' ? 126 : undefined;
        if (status === undefined) return reject(error);
        const destination = spec.stderr;
        const message = `missionbus cell: cannot run '${launch.file}': ${error.code}\n`;
        if (destination === undefined || destination === 'inherit') process.stderr.write(message);
        else if (destination !== 'ignore') destination.write(message);
        resolve({ code: status, signal: null });
      });
      child.once('exit', (exitCode, exitSignal) => resolve({ code: exitCode, signal: exitSignal }));
    });
    clearTimeout(timer);
    // Whatever the command left behind in its process group dies with it.
    killProcessGroup(child);
    await drained(child);
    await stopping;
    const mapped = mapStatus(code, signal, launch.runtimeExitStatus);
    return { ...mapped, durationMs: performance.now() - started, timedOut, aborted };
  } finally {
    clearTimeout(timer);
    spec.signal?.removeEventListener('abort', onAbort);
  }
}

function mapStatus(code: number | null, signal: NodeJS.Signals | null, fromRuntime: boolean): Pick<CellResult, 'exitCode' | 'signal'> {
  if (signal !== null) return { exitCode: null, signal };
  if (fromRuntime && code !== null && code > 128) {
    const name = signalNames.get(code - 128);
    if (name) return { exitCode: null, signal: name };
  }
  return { exitCode: code, signal: null };
}

/** Resolves when stdout/stderr pipes closed, or cuts them after a grace period (an escaped grandchild may hold them). */
function drained(child: ChildProcess): Promise<void> {
  const pipes = [child.stdout, child.stderr].filter((pipe): pipe is Readable => pipe !== null && !pipe.destroyed && !pipe.readableEnded);
  if (pipes.length === 0) return Promise.resolve();
  return new Promise((resolve) => {
    let open = pipes.length;
    const done = () => {
      if (--open === 0) {
        clearTimeout(cut);
        resolve();
      }
    };
    const cut = setTimeout(() => {
      for (const pipe of pipes) pipe.destroy();
      resolve();
    }, DRAIN_GRACE_MS);
    for (const pipe of pipes) pipe.once('close', done);
  });
}
