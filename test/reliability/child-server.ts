/**
 * Parent side of the crash tests: starts `serve-child.ts` as a separate node process, and kills it with
 * SIGKILL (no handler runs, no buffer is flushed: what is on disk or committed is all there is).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChildSpec } from './serve-child.js';

export const SERVE_CHILD = fileURLToPath(new URL('./serve-child.ts', import.meta.url));

const START_TIMEOUT_MS = 20_000;
const EXIT_TIMEOUT_MS = 15_000;

export class ChildServer {
  private exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private stderr = '';

  private constructor(
    readonly url: string,
    readonly pid: number,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
      else child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-20_000);
    });
  }

  /** What the server wrote on stderr (its error log), last 20 kB. */
  get log(): string {
    return this.stderr;
  }

  /** Spawns the server and waits until it prints its URL. */
  static async start(spec: ChildSpec): Promise<ChildServer> {
    const child = spawn(process.execPath, ['--import', 'tsx', SERVE_CHILD, JSON.stringify(spec)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the server child did not start within ${START_TIMEOUT_MS} ms: ${stderr}`));
      }, START_TIMEOUT_MS);
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const newline = out.indexOf('\n');
        if (newline >= 0) {
          clearTimeout(timer);
          resolve(out.slice(0, newline));
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the server child exited before listening (code ${code}, signal ${signal}): ${stderr}`));
      });
    });
    const { url, pid } = JSON.parse(line) as { url: string; pid: number };
    return new ChildServer(url, pid, child);
  }

  /** SIGKILL, then waits for the process to be gone. */
  async kill9(): Promise<void> {
    process.kill(this.pid, 'SIGKILL');
    await this.waitExit();
  }

  /** SIGTERM (graceful close), then waits; SIGKILL if it does not exit in time. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    await this.waitExit().catch(async () => {
      this.child.kill('SIGKILL');
      await this.exited;
    });
  }

  /** Peak resident set size of the server process (VmHWM), in bytes; Linux only. */
  async peakRss(): Promise<number> {
    const { readFile } = await import('node:fs/promises');
    const status = await readFile(`/proc/${this.pid}/status`, 'utf8');
    const match = /^VmHWM:\s+(\d+) kB/m.exec(status);
    if (!match) throw new Error(`no VmHWM in /proc/${this.pid}/status`);
    return Number(match[1]) * 1024;
  }

  private async waitExit(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.exited,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`server child ${this.pid} did not exit within ${EXIT_TIMEOUT_MS} ms`)), EXIT_TIMEOUT_MS);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}
