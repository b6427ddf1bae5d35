/**
 * Environment scrubbing. A cell never inherits the host environment: only an allow-list of
 * harmless locale/terminal variables passes, so tokens, cloud credentials, `NODE_OPTIONS`,
 * `LD_PRELOAD` and the like stay outside.
 *
 * @module
 */
/** `PATH` inside level 2/3 cells, where the host's `PATH` may name directories that are not mounted. */
export const CELL_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const HOST_ALLOWED = new Set(['LANG', 'LANGUAGE', 'TERM', 'TZ']);

/** True for the host variables a cell may see (`LANG`, `LANGUAGE`, `LC_*`, `TERM`, `TZ`). */
export function isAllowedHostVar(name: string): boolean {
  return HOST_ALLOWED.has(name) || name.startsWith('LC_');
}

/** How the launcher wants the environment laid out. */
export interface CellEnvOptions {
  /** The workspace as the command sees it (host path at level 1, `/workspace` otherwise). */
  home: string;
  /** `PATH` for the cell: the host's at level 1, {@link CELL_PATH} otherwise. */
  path: string;
  /**
   * The bus URL the cell must use, if the launcher mounts the socket. When set it replaces any
   * `MISSIONBUS_URL` from the spec, because a TCP URL is unreachable from a cell without network.
   */
  busUrl?: string;
  /** Used only when the spec has no `MISSIONBUS_URL` of its own (level 1). */
  defaultBusUrl?: string;
}

/**
 * Builds a cell's complete environment. Precedence, lowest first: allow-listed host variables,
 * `HOME`/`PATH` from the launcher, `spec.env`, then the launcher's `busUrl`.
 */
export function cellEnv(host: NodeJS.ProcessEnv, specEnv: Record<string, string>, options: CellEnvOptions): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(host)) {
    if (value !== undefined && isAllowedHostVar(name)) env[name] = value;
  }
  env.HOME = options.home;
  env.PATH = options.path;
  if (options.defaultBusUrl !== undefined) env.MISSIONBUS_URL = options.defaultBusUrl;
  Object.assign(env, specEnv);
  if (options.busUrl !== undefined) env.MISSIONBUS_URL = options.busUrl;
  return env;
}
