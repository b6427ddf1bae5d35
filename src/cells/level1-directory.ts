/**
 * Level 1: a directory workspace.
 *
 * @module
 */
import { mkdir } from 'node:fs/promises';
import { CellLauncher, type Availability, type CellResult, type CellSpec } from './contract.js';
import { cellEnv } from './env.js';
import { runLaunch } from './process.js';

/**
 * Runs the command directly on the host with `cwd` = workspace, `HOME` = workspace and a scrubbed
 * environment (see {@link cellEnv}).
 *
 * What it does NOT contain, stated plainly: the filesystem (the command can read and write
 * anything the invoking user can, including files outside the workspace), the network (it can
 * reach every host and port the invoking user can, including the bus over TCP) and processes (it
 * can see and signal the user's other processes). It only keeps the host's environment variables
 * out and gives the command its own directory. Use it for trusted agents and for development.
 *
 * Process tree: the command leads a new session/process group; on timeout, abort, and when the
 * command exits, the whole group is SIGKILLed. A descendant that calls `setsid()` itself leaves the
 * group and survives; levels 2 and 3 do not have that hole (their PID namespace dies with the cell).
 */
export class Level1DirectoryLauncher extends CellLauncher {
  readonly level = 1 as const;
  readonly name = 'level1-directory' as const;

  async check(): Promise<Availability> {
    return {
      available: true,
      notes: ['does not contain the filesystem, the network or processes: only the environment is scrubbed'],
    };
  }

  protected async launch(spec: CellSpec): Promise<CellResult> {
    await mkdir(spec.workspace, { recursive: true });
    const env = cellEnv(process.env, spec.env, {
      home: spec.workspace,
      path: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      ...(spec.busSocket !== undefined ? { defaultBusUrl: `unix:${spec.busSocket}` } : {}),
    });
    const [file, ...args] = spec.command as [string, ...string[]];
    return runLaunch({ file, args, env, cwd: spec.workspace, runtimeExitStatus: false }, spec);
  }
}
