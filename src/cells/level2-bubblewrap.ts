/**
 * Level 2: a bubblewrap (`bwrap`) mount namespace.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { CELL_BUS_SOCKET, CELL_BUS_URL, CELL_WORKSPACE, CellLauncher, type Availability, type CellResult, type CellSpec } from './contract.js';
import { CELL_PATH, cellEnv } from './env.js';
import { CELL_ETC_ENTRIES, findExecutable, systemEntries } from './host.js';
import { runLaunch } from './process.js';

/** Options for {@link Level2BubblewrapLauncher}. */
export interface Level2Options {
  /** The bwrap executable. Default: `bwrap` from the system directories. */
  bwrap?: string;
}

/** Hostname inside level 2 and level 3 cells. */
export const CELL_HOSTNAME = 'missionbus-cell';

/**
 * Runs the command under bubblewrap with:
 *
 * - `--unshare-all`: new user, PID, IPC, UTS, cgroup and network namespaces. The network
 *   namespace has only a down-then-up loopback of its own, so there is no network at all (not
 *   even the host's 127.0.0.1), and host processes are invisible in the fresh `/proc`.
 * - a root that is an empty tmpfs, remounted read-only at the end, holding: read-only binds of
 *   `/usr` (plus `/bin`, `/lib*`, `/sbin` as the host has them: merged-usr symlinks or directories),
 *   a curated read-only subset of `/etc` ({@link CELL_ETC_ENTRIES}; never /etc/shadow or
 *   /etc/ssl/private), a fresh `/proc`, a minimal `/dev`, a private tmpfs `/tmp` and `/var/tmp`.
 *   Host `/root`, `/home`, `/work`, `/tmp`, `/var`, `/opt`, `/run` are not there at all.
 * - the workspace bound read-write at `/workspace` (cwd and `HOME`): the only writable host path.
 * - the bus socket, if given, bound at `/run/missionbus/bus.sock` and `MISSIONBUS_URL` rewritten to
 *   `unix:/run/missionbus/bus.sock` (see {@link CellSpec.busSocket}).
 * - `--cap-drop ALL`, `--new-session` (no TIOCSTI into the caller's terminal), `--die-with-parent`.
 * - `--clearenv` plus the scrubbed environment. Those arguments travel over fd 3 (`--args 3`), not
 *   argv, so tokens in `spec.env` do not show up in `ps` for other host users.
 *
 * Node runs inside because `/usr/bin/node` comes with the `/usr` bind.
 *
 * Users: run unprivileged, bwrap needs unprivileged user namespaces (Debian 12 allows them;
 * Ubuntu 24.04 restricts them through AppArmor). Run as root, as on CI, the cell's uid 0 maps to host
 * root without any capability: it can still read root-owned files that are mounted, which is why
 * only system directories and the curated /etc subset are. Files it writes in the workspace are
 * owned by the invoking user.
 *
 * Not contained: CPU, memory and PID limits (bwrap sets no cgroup limits; use level 3 on a cgroup v2
 * host) and the kernel attack surface (no seccomp filter).
 */
export class Level2BubblewrapLauncher extends CellLauncher {
  readonly level = 2 as const;
  readonly name = 'level2-mount-namespace' as const;
  readonly #options: Level2Options;
  #bwrap: string | undefined;

  constructor(options: Level2Options = {}) {
    super();
    this.#options = options;
  }

  async check(): Promise<Availability> {
    const bwrap = await findExecutable(this.#options.bwrap ?? 'bwrap');
    if (!bwrap) {
      return { available: false, reason: `bubblewrap executable '${this.#options.bwrap ?? 'bwrap'}' not found`, fix: 'apt-get install bubblewrap (or dnf install bubblewrap)' };
    }
    const probe = await this.#probe(bwrap);
    if (probe) return { available: false, ...probe };
    this.#bwrap = bwrap;
    const notes = ['no CPU/memory/PID limits (bubblewrap sets no cgroups)'];
    if (process.getuid?.() === 0) notes.push('running as root: the cell is uid 0 mapped to host root, with no capabilities and only system paths mounted');
    if (!existsSync('/usr/bin/node')) notes.push('/usr/bin/node not found: node will not be runnable inside the cell');
    return { available: true, notes };
  }

  /** Runs `true` in the same kind of sandbox to learn whether namespaces can be created here. */
  async #probe(bwrap: string): Promise<{ reason: string; fix: string } | undefined> {
    const args = [...(await this.#systemArgs()), '--unshare-all', '--die-with-parent', '--proc', '/proc', '--dev', '/dev', '/usr/bin/true'];
    return new Promise((resolve) => {
      execFile(bwrap, args, { env: {}, timeout: 10_000 }, (error, _stdout, stderr) => {
        if (!error) return resolve(undefined);
        const message = (stderr || error.message).trim().split('\n').slice(-2).join(' ');
        const userns = /namespace|Operation not permitted|Permission denied|setting up uid map/i.test(message);
        resolve({
          reason: `bwrap cannot create a sandbox here: ${message}`,
          fix: userns
            ? 'enable unprivileged user namespaces (Debian: sysctl -w kernel.unprivileged_userns_clone=1; Ubuntu 24.04: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0; everywhere: user.max_user_namespaces > 0), or run as root; inside a container, allow nested namespaces (e.g. --privileged or a seccomp profile permitting clone/unshare)'
            : 'run `bwrap --unshare-all --ro-bind /usr /usr /usr/bin/true` to see the full error',
        });
      });
    });
  }

  async #systemArgs(): Promise<string[]> {
    const args: string[] = [];
    for (const entry of await systemEntries()) {
      if (entry.kind === 'dir') args.push('--ro-bind', entry.path, entry.path);
      else args.push('--symlink', entry.target, entry.path);
    }
    return args;
  }

  protected async launch(spec: CellSpec): Promise<CellResult> {
    await this.assertBusSocket(spec);
    await mkdir(spec.workspace, { recursive: true });
    const env = cellEnv(process.env, spec.env, {
      home: CELL_WORKSPACE,
      path: CELL_PATH,
      ...(spec.busSocket !== undefined ? { busUrl: CELL_BUS_URL } : {}),
    });
    const args = [
      '--unshare-all',
      '--die-with-parent',
      '--new-session',
      '--cap-drop', 'ALL',
      '--hostname', CELL_HOSTNAME,
      ...(await this.#systemArgs()),
      ...CELL_ETC_ENTRIES.flatMap((path) => ['--ro-bind-try', path, path]),
      '--proc', '/proc',
      '--dev', '/dev',
      '--tmpfs', '/tmp',
      '--tmpfs', '/var/tmp',
      '--bind', spec.workspace, CELL_WORKSPACE,
      ...(spec.busSocket !== undefined ? ['--dir', '/run/missionbus', '--ro-bind', spec.busSocket, CELL_BUS_SOCKET] : []),
      ...(spec.readOnlyBinds ?? []).flatMap((bind) => ['--ro-bind', bind.host, bind.cell]),
      '--chdir', CELL_WORKSPACE,
      '--remount-ro', '/',
      '--clearenv',
      ...Object.entries(env).flatMap(([name, value]) => ['--setenv', name, value]),
    ];
    const fd3 = Buffer.from(args.map((arg) => `${arg}\0`).join(''));
    return runLaunch(
      { file: this.#bwrap!, args: ['--args', '3', '--', ...spec.command], env: {}, fd3, runtimeExitStatus: true },
      spec,
    );
  }
}
