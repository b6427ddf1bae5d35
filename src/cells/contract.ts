/**
 * The one launcher contract for isolation cells. Three thin adapters implement it:
 * `level1-directory` ({@link Level1DirectoryLauncher}), `level2-mount-namespace` (bubblewrap) and
 * `level3-rootless-podman`. Everything that does not depend on the isolation technique (spec
 * validation, environment scrubbing, streaming, timeouts, aborts, exit-status mapping) lives here
 * and in `process.ts`, so an adapter only says how to build the sandbox.
 *
 * @module
 */
import { stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { InvalidCellSpecError, CellUnavailableError } from './errors.js';

/** How strongly a cell contains its command. Higher is stronger and slower to start. */
export type CellLevel = 1 | 2 | 3;

/** The profile name of each level, as shown by `cellAvailability()` and the CLI. */
export type CellProfile = 'level1-directory' | 'level2-mount-namespace' | 'level3-rootless-podman';

/** Profile name per level. */
export const CELL_PROFILES: Readonly<Record<CellLevel, CellProfile>> = {
  1: 'level1-directory',
  2: 'level2-mount-namespace',
  3: 'level3-rootless-podman',
};

/** Where the workspace appears inside level 2 and level 3 cells (cwd and `HOME`). */
export const CELL_WORKSPACE = '/workspace';

/** Where the bus Unix socket appears inside level 2 and level 3 cells. */
export const CELL_BUS_SOCKET = '/run/missionbus/bus.sock';

/** The `MISSIONBUS_URL` a level 2/3 cell sees when {@link CellSpec.busSocket} is given. */
export const CELL_BUS_URL = `unix:${CELL_BUS_SOCKET}`;

/** Where read-only binds may appear inside level 2 and level 3 cells. */
export const CELL_OPT_DIR = '/opt';

/** Where the missionbus package appears inside level 2/3 cells, so `missionbus` runs there. */
export const CELL_PACKAGE_DIR = '/opt/missionbus';

/**
 * The parts of the missionbus package a cell gets, read-only: code and dependencies only — never the
 * package root itself, which may hold `.missionbus/` (the bus's database and socket).
 */
export const CELL_PACKAGE_ENTRIES: ReadonlyArray<{ name: string; kind: 'dir' | 'file' }> = [
  { name: 'bin', kind: 'dir' },
  { name: 'src', kind: 'dir' },
  { name: 'dist', kind: 'dir' },
  { name: 'node_modules', kind: 'dir' },
  { name: 'profiles', kind: 'dir' },
  { name: 'package.json', kind: 'file' },
];

/**
 * Where a cell's output goes. `'inherit'` shares the caller's stream, `'ignore'` discards it, and a
 * writable stream receives every chunk as it is produced (it is not ended when the cell exits).
 */
export type CellOutput = 'inherit' | 'ignore' | NodeJS.WritableStream;

/** What to run and how. */
export interface CellSpec {
  /** Must equal the launcher's level; guards against running a spec in a weaker cell by mistake. */
  level: CellLevel;
  /**
   * Absolute host directory, created if missing. The only writable place a level 2/3 cell has
   * (besides a private, throw-away `/tmp`); it appears there at {@link CELL_WORKSPACE}.
   */
  workspace: string;
  /** argv; `command[0]` is looked up on the cell's `PATH`. */
  command: string[];
  /**
   * Extra variables, e.g. `MISSIONBUS_URL`, `MISSIONBUS_TOKEN`, `MISSIONBUS_MISSION`. The host
   * environment is NOT inherited: only `PATH` (level 1), `LANG`, `LANGUAGE`, `LC_*`, `TERM` and `TZ`
   * pass from the host; `HOME` is the workspace. These values override those.
   */
  env: Record<string, string>;
  /**
   * Host path of the bus Unix domain socket. Level 2/3 cells have no network, so the socket is
   * bind-mounted at {@link CELL_BUS_SOCKET} and `MISSIONBUS_URL` is rewritten to
   * {@link CELL_BUS_URL}. At level 1 `MISSIONBUS_URL` defaults to `unix:<busSocket>`.
   */
  busSocket?: string;
  /**
   * Host paths shown read-only inside a level 2/3 cell at `cell` (which must lie under `/opt/`), e.g. the
   * missionbus package. Level 1 ignores them: its command sees the host's files anyway.
   */
  readOnlyBinds?: ReadonlyArray<{ host: string; cell: string }>;
  /** Kill the whole process tree after this many milliseconds. Default: no timeout. */
  timeoutMs?: number;
  /** Standard input. Default `'ignore'` (`/dev/null`). */
  stdin?: 'ignore' | 'inherit';
  /** Default `'inherit'`. */
  stdout?: CellOutput;
  /** Default `'inherit'`. */
  stderr?: CellOutput;
  /** Aborting kills the whole process tree; `run()` then resolves with `aborted: true`. */
  signal?: AbortSignal;
}

/** How a cell ended. */
export interface CellResult {
  /** The command's exit code, or `null` when it was killed by a signal. */
  exitCode: number | null;
  /**
   * The signal that killed the command, or `null`. Levels 2 and 3 learn about signals from the
   * runtime's exit status (128 + N), so a command that itself exits with 129–192 is reported as
   * killed by signal N there.
   */
  signal: NodeJS.Signals | null;
  /** Wall time from spawn to the moment the cell was gone. */
  durationMs: number;
  /** The cell hit {@link CellSpec.timeoutMs} and was killed. */
  timedOut: boolean;
  /** {@link CellSpec.signal} fired and the cell was killed. */
  aborted: boolean;
}

/** Whether this host can provide a level, and if not, why and how to fix it. */
export interface Availability {
  available: boolean;
  /** What is missing, e.g. `bwrap not found`. Set when not available. */
  reason?: string;
  /** How to enable it, e.g. `apt-get install bubblewrap`. Set when not available. */
  fix?: string;
  /** Caveats that do not prevent use, e.g. resource limits that this host ignores. */
  notes?: string[];
}

/**
 * One launcher per isolation level. Subclasses implement {@link check} and {@link launch};
 * {@link run} validates the spec and fails fast with {@link CellUnavailableError} when the host
 * cannot provide the level.
 */
export abstract class CellLauncher {
  abstract readonly level: CellLevel;
  abstract readonly name: CellProfile;
  #available: Promise<Availability> | undefined;

  /** Probes the host. Never throws; a failed probe is reported as `available: false`. */
  abstract check(): Promise<Availability>;

  /** Starts the sandbox for a validated spec on a host that passed {@link check}. */
  protected abstract launch(spec: CellSpec): Promise<CellResult>;

  /**
   * Runs `spec.command` in a cell and resolves when the cell and every process it started are gone.
   * Rejects with {@link InvalidCellSpecError} for a bad spec, {@link CellUnavailableError} when the
   * host cannot provide this level, and with an `AbortError` when `spec.signal` was already aborted.
   */
  async run(spec: CellSpec): Promise<CellResult> {
    this.validate(spec);
    await this.ensureAvailable();
    return this.launch(spec);
  }

  /** Memoizes a successful {@link check}; a failed one is retried on the next run. */
  protected async ensureAvailable(): Promise<void> {
    this.#available ??= this.check();
    const availability = await this.#available;
    if (!availability.available) {
      this.#available = undefined;
      throw new CellUnavailableError(this.level, this.name, availability.reason ?? 'unavailable', availability.fix ?? '');
    }
  }

  /** Fails with {@link InvalidCellSpecError} unless `spec.busSocket` (if given) is a Unix socket. */
  protected async assertBusSocket(spec: CellSpec): Promise<void> {
    if (spec.busSocket === undefined) return;
    const found = await stat(spec.busSocket).catch(() => undefined);
    if (!found?.isSocket()) {
      throw new InvalidCellSpecError(this.name, 'busSocket', `busSocket '${spec.busSocket}' is ${found ? 'not a Unix socket' : 'missing'}; start the bus with a Unix socket listener first`);
    }
  }

  /** Shape checks shared by every level; adapters may add their own. */
  protected validate(spec: CellSpec): void {
    const problem = (field: string, message: string) => new InvalidCellSpecError(this.name, field, message);
    if (spec.level !== this.level) {
      throw problem('level', `spec asks for level ${spec.level} but this is the ${this.name} launcher (level ${this.level})`);
    }
    if (typeof spec.workspace !== 'string' || !isAbsolute(spec.workspace)) {
      throw problem('workspace', `workspace must be an absolute host path, got '${String(spec.workspace)}'`);
    }
    if (!Array.isArray(spec.command) || spec.command.length === 0 || spec.command.some((arg) => typeof arg !== 'string')) {
      throw problem('command', 'command must be a non-empty argv array of strings');
    }
    // NUL would also split bubblewrap's NUL-separated `--args` stream: never let one through.
    if (spec.command.some((arg) => arg.includes('\0'))) throw problem('command', 'command must not contain NUL bytes');
    if (typeof spec.env !== 'object' || spec.env === null) throw problem('env', 'env must be an object of strings (use {} for none)');
    for (const [name, value] of Object.entries(spec.env)) {
      if (name === '' || name.includes('=') || name.includes('\0')) throw problem('env', `invalid environment variable name '${name}'`);
      if (typeof value !== 'string' || value.includes('\0')) throw problem('env', `environment variable ${name} must be a string without NUL bytes`);
    }
    if (spec.timeoutMs !== undefined && !(Number.isFinite(spec.timeoutMs) && spec.timeoutMs > 0)) {
      throw problem('timeoutMs', `timeoutMs must be a positive number, got ${spec.timeoutMs}`);
    }
    for (const bind of spec.readOnlyBinds ?? []) {
      if (!isAbsolute(bind.host) || bind.host.includes('\0')) throw problem('readOnlyBinds', `bind source must be an absolute host path, got '${bind.host}'`);
      if (!bind.cell.startsWith(`${CELL_OPT_DIR}/`) || bind.cell.split('/').some((s) => s === '..') || bind.cell.includes('\0')) {
        throw problem('readOnlyBinds', `bind target '${bind.cell}' must lie under ${CELL_OPT_DIR}/`);
      }
    }
    if (spec.busSocket !== undefined && !isAbsolute(spec.busSocket)) {
      throw problem('busSocket', `busSocket must be an absolute host path, got '${spec.busSocket}'`);
    }
    const url = spec.env.MISSIONBUS_URL;
    if (this.level >= 2 && spec.busSocket === undefined && url !== undefined) {
      throw problem('busSocket', `a level ${this.level} cell has no network and no host paths, so MISSIONBUS_URL '${url}' is unreachable inside; pass busSocket (the bus's Unix socket) and the launcher points MISSIONBUS_URL at it`);
    }
  }
}
