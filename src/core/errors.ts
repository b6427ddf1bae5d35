/**
 * One error class per failure a caller can act on. Every class carries a stable `code`
 * (used on the wire and for HTTP mapping at the server edge) and structured `details`.
 * The seed's `PermissionError` maps to {@link PermissionDeniedError}, its `KeyError` to
 * {@link NotFoundError}.
 */
export type ErrorCode = 'permission_denied' | 'not_found' | 'conflict' | 'invalid_input' | 'unavailable';

export type ErrorDetails = Record<string, unknown>;

export abstract class MissionBusError extends Error {
  abstract readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.details = details;
  }

  toJSON(): { error: { code: ErrorCode; message: string; details: ErrorDetails } } {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

/** The participant's role lacks the capability, or the participant is unknown to the mission. */
export class PermissionDeniedError extends MissionBusError {
  readonly code = 'permission_denied' as const;
}

/** A mission, participant, checkpoint, handoff or event id does not exist. */
export class NotFoundError extends MissionBusError {
  readonly code = 'not_found' as const;
}

/**
 * The operation contradicts the current state: a name already registered, a handoff already
 * accepted, or (`details.reason === 'sequence'`) another writer appended first.
 */
export class ConflictError extends MissionBusError {
  readonly code = 'conflict' as const;
}

/** The input failed validation; `details.issues` lists each problem with its path. */
export class InvalidInputError extends MissionBusError {
  readonly code = 'invalid_input' as const;
}

/** A dependency (the store, the database) is temporarily unreachable; the caller may retry. */
export class UnavailableError extends MissionBusError {
  readonly code = 'unavailable' as const;
}

const constructors: Record<ErrorCode, new (message: string, details?: ErrorDetails) => MissionBusError> = {
  permission_denied: PermissionDeniedError,
  not_found: NotFoundError,
  conflict: ConflictError,
  invalid_input: InvalidInputError,
  unavailable: UnavailableError,
};

/** Rebuilds a typed error from its wire form (used by the client SDK). */
export function errorFromWire(code: string, message: string, details: ErrorDetails = {}): MissionBusError {
  const ctor = constructors[code as ErrorCode] ?? UnavailableError;
  return new ctor(message, details);
}

export function isMissionBusError(error: unknown): error is MissionBusError {
  return error instanceof MissionBusError;
}
