/**
 * Typed failures of the cells layer. Each names the thing, the reason and the fix, and carries them
 * as structured `details` so the CLI and the server can show them without parsing messages.
 *
 * @module
 */
import { InvalidInputError, MissionBusError } from '../core/errors.js';
import type { CellLevel, CellProfile } from './contract.js';

/**
 * The host cannot provide the requested isolation level (a tool, a kernel feature, the cell user or
 * the rootfs is missing). Not transient: retrying fails the same way until `fix` is applied.
 */
export class CellUnavailableError extends MissionBusError {
  readonly code = 'unavailable' as const;
  readonly level: CellLevel;
  readonly profile: CellProfile;
  readonly reason: string;
  readonly fix: string;

  constructor(level: CellLevel, profile: CellProfile, reason: string, fix: string, options?: { cause?: unknown }) {
    super(`cell level ${level} (${profile}) is unavailable on this host: ${reason}${fix ? `; fix: ${fix}` : ''}`, { level, profile, reason, fix }, options);
    this.level = level;
    this.profile = profile;
    this.reason = reason;
    this.fix = fix;
  }
}

/** A {@link CellSpec} field is malformed or cannot be expressed at this level. */
export class InvalidCellSpecError extends InvalidInputError {
  readonly profile: CellProfile;
  readonly field: string;

  constructor(profile: CellProfile, field: string, message: string) {
    super(`${profile}: ${message}`, { profile, field, issues: [{ path: [field], message }] });
    this.profile = profile;
    this.field = field;
  }
}

/** `setupCells()` could not complete a step; `fix` says what the operator should do. */
export class CellSetupError extends MissionBusError {
  readonly code = 'unavailable' as const;
  readonly step: string;
  readonly fix: string;

  constructor(step: string, reason: string, fix: string, options?: { cause?: unknown }) {
    super(`cell setup failed at '${step}': ${reason}; fix: ${fix}`, { step, reason, fix }, options);
    this.step = step;
    this.fix = fix;
  }
}
