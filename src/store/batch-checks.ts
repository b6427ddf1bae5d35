import { ConflictError, InvalidInputError, NotFoundError } from '../core/errors.js';
import type { AppendBatch, StoredEvent } from './contract.js';

/** Refuses a batch whose events are not contiguous from expected_sequence + 1 (a caller bug, never data). */
export function assertContiguous(missionId: string, afterSequence: number, events: StoredEvent[]): void {
  events.forEach((event, index) => {
    if (event.sequence !== afterSequence + index + 1) {
      throw new InvalidInputError(
        `events for mission '${missionId}' must be contiguous from ${afterSequence + 1}; got ${event.sequence} at position ${index}`,
      );
    }
  });
}

export function sequenceConflict(batch: AppendBatch, actual: number): ConflictError {
  return new ConflictError(
    `mission '${batch.mission_id}' is at sequence ${actual}, not ${batch.expected_sequence}: another writer appended first; reload and retry`,
    { mission_id: batch.mission_id, reason: 'sequence', expected: batch.expected_sequence, actual },
  );
}

export function missionNotFound(missionId: string): NotFoundError {
  return new NotFoundError(`mission '${missionId}' does not exist`, { mission_id: missionId });
}

export function missionExists(missionId: string): ConflictError {
  return new ConflictError(`mission '${missionId}' already exists`, { mission_id: missionId });
}

export function duplicateEventId(missionId: string, eventId: string): ConflictError {
  return new ConflictError(`an event with id '${eventId}' already exists in mission '${missionId}'`, {
    mission_id: missionId,
    reason: 'duplicate_id',
    event_id: eventId,
  });
}
