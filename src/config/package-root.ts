import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The missionbus package's root directory, found by walking up from this file to the package.json
 * named `missionbus` — the same from `src/` (tsx) and from `dist/src/` (built).
 */
export const PACKAGE_ROOT: string = findRoot(dirname(fileURLToPath(import.meta.url)));

function findRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'missionbus') return dir;
    if (dirname(dir) === dir) throw new Error(`missionbus: no package.json named missionbus above ${start}`);
  }
}
