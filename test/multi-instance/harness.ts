/**
 * Parent side of the multi-instance tests: spawns instances as child processes (instance.ts by default)
 * and calls their ops over IPC. A failed op rejects with an error carrying the instance's error name,
 * code and details, so tests can assert on typed errors across the process boundary.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Reply, WireError } from './instance.js';

export const INSTANCE_SCRIPT = fileURLToPath(new URL('./instance.ts', import.meta.url));

export class RemoteError extends Error {
  readonly code: string | undefined;
  readonly details: unknown;
  constructor(readonly instance: string, wire: WireError) {
    super(`${instance}: ${wire.name}: ${wire.message}`);
    this.name = wire.name;
    this.code = wire.code;
    this.details = wire.details;
  }
}

export class Instance {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: unknown) => void }>();
  private exited: Error | undefined;
  readonly ready: Promise<void>;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    let started!: () => void;
    this.ready = new Promise((resolve) => (started = resolve));
    child.on('message', (reply: Reply) => {
      if (reply.id === 0) return started();
      const waiter = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      if (reply.ok) waiter?.resolve(reply.value);
      else waiter?.reject(new RemoteError(name, reply.error));
    });
    child.on('exit', (code, signal) => {
      this.exited = new Error(`instance ${name} exited (code ${code}, signal ${signal})`);
      for (const waiter of this.waiting.values()) waiter.reject(this.exited);
      this.waiting.clear();
      started();
    });
  }

  /** Spawns `script` with `node --import tsx` and waits until it listens for ops. */
  static async spawn(name: string, script = INSTANCE_SCRIPT): Promise<Instance> {
    const child = fork(script, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const instance = new Instance(name, child);
    await instance.ready;
    if (instance.exited) throw instance.exited;
    return instance;
  }

  call<T = unknown>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.child.send({ id, op, args });
    });
  }

  /** Closes the instance's service and store, then lets the process exit. */
  async stop(): Promise<void> {
    if (this.exited) return;
    await this.call('close').catch(() => undefined);
    const gone = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.disconnect();
    await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 5000))]);
    if (!this.exited) this.child.kill('SIGKILL');
  }
}
