import { InvalidInputError } from '../core/errors.js';
import { MISSION_ROLES, type MissionRole } from '../core/profiles.js';

export function positiveInt(flag: string, text: string, options: { allowZero?: boolean } = {}): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < (options.allowZero ? 0 : 1)) {
    throw new InvalidInputError(`${flag} must be a whole number ${options.allowZero ? '>= 0' : '>= 1'}, not '${text}'`);
  }
  return value;
}

/** A number in (0, 1]. */
export function fraction(flag: string, text: string): number {
  const value = Number(text);
  if (!(value > 0 && value <= 1)) throw new InvalidInputError(`${flag} must be a number above 0 and at most 1, not '${text}'`);
  return value;
}

export function role(text: string): MissionRole {
  if (!(MISSION_ROLES as readonly string[]).includes(text)) {
    throw new InvalidInputError(`unknown role '${text}': use one of ${MISSION_ROLES.join(', ')}`);
  }
  return text as MissionRole;
}

/** Parses a flag holding a JSON object, naming the flag when it is not one. */
export function parseObject(flag: string, text: string): Record<string, never> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new InvalidInputError(`${flag} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidInputError(`${flag} must be a JSON object`);
  return value as Record<string, never>;
}
