/**
 * Isolation cells: one launcher contract, three levels.
 *
 * ```ts
 * const abort = new AbortController();
 * process.once('SIGINT', () => abort.abort()); // Ctrl-C kills the cell's whole tree
 * const result = await launcherFor(2).run({ level: 2, workspace: '/srv/agents/a1', command: ['node', 'agent.js'],
 *   env: { MISSIONBUS_TOKEN: token }, busSocket: '/run/missionbus/bus.sock', timeoutMs: 600_000, signal: abort.signal });
 * ```
 *
 * Cells are spawned in their own session, so a terminal's Ctrl-C reaches only this process: wire it
 * to `signal` as above. If this process dies instead, a level 2 cell dies with it
 * (`--die-with-parent`), a level 3 cell lives until its `--timeout` backstop (or forever without
 * `timeoutMs`), and a level 1 process group lives on.
 *
 * @module
 */
import { CELL_PROFILES, type Availability, type CellLauncher, type CellLevel, type CellProfile } from './contract.js';
import { Level1DirectoryLauncher } from './level1-directory.js';
import { Level2BubblewrapLauncher } from './level2-bubblewrap.js';
import { Level3PodmanLauncher } from './level3-podman.js';

export {
  CELL_BUS_SOCKET,
  CELL_BUS_URL,
  CELL_PROFILES,
  CELL_WORKSPACE,
  CellLauncher,
  type Availability,
  type CellLevel,
  type CellOutput,
  type CellProfile,
  type CellResult,
  type CellSpec,
} from './contract.js';
export { CellSetupError, CellUnavailableError, InvalidCellSpecError } from './errors.js';
export { CELL_PATH, isAllowedHostVar } from './env.js';
export { Level1DirectoryLauncher } from './level1-directory.js';
export { CELL_HOSTNAME, Level2BubblewrapLauncher, type Level2Options } from './level2-bubblewrap.js';
export { CELL_LABEL, CELL_ROOTFS, CELL_USER, Level3PodmanLauncher, type Level3Options } from './level3-podman.js';
export { setupCells, type SetupOptions, type SetupReport } from './setup.js';

const launchers = new Map<CellLevel, CellLauncher>();

/**
 * The default launcher for a level, shared across calls so its host check runs once per process.
 * Construct {@link Level2BubblewrapLauncher} or {@link Level3PodmanLauncher} directly for custom options.
 */
export function launcherFor(level: CellLevel): CellLauncher {
  let launcher = launchers.get(level);
  if (!launcher) {
    if (level === 1) launcher = new Level1DirectoryLauncher();
    else if (level === 2) launcher = new Level2BubblewrapLauncher();
    else if (level === 3) launcher = new Level3PodmanLauncher();
    else throw new RangeError(`unknown cell level ${String(level)}; levels are 1, 2 and 3`);
    launchers.set(level, launcher);
  }
  return launcher;
}

/** One line of {@link cellAvailability}. */
export type LevelAvailability = { level: CellLevel; name: CellProfile } & Availability;

/** Doctor: whether each level can run on this host, why not, and how to fix it. Probes levels 2 and 3 for real. */
export async function cellAvailability(): Promise<LevelAvailability[]> {
  const levels: CellLevel[] = [1, 2, 3];
  return Promise.all(levels.map(async (level) => ({ level, name: CELL_PROFILES[level], ...(await launcherFor(level).check()) })));
}
