import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidInputError } from '../core/errors.js';
import { defaultProfiles, parseProfiles, type ProfilesConfig } from '../core/profiles.js';
import { PACKAGE_ROOT } from './package-root.js';

/** The profiles file shipped with missionbus (the seed's roles and three isolation levels). */
export const DEFAULT_PROFILES_PATH = join(PACKAGE_ROOT, 'profiles', 'mission-bus-profiles.json');

/**
 * Reads a profiles file in the seed's JSON shape. A missing file yields the built-in defaults, as in the
 * seed; a file that exists but is not valid JSON or not a valid profiles document is an `InvalidInputError`.
 */
export function loadProfiles(path: string): ProfilesConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return defaultProfiles();
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new InvalidInputError(`profiles file '${path}' is not valid JSON: ${(error as Error).message}`, { path });
  }
  return parseProfiles(json, `profiles file '${path}'`);
}
