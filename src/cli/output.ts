/**
 * How commands print: `--json` gives machine output (events one JSON object per line, in the wire
 * format); otherwise a readable line per event.
 */
import type { AuditRecord, MissionEvent } from '../core/events.js';

export interface OutputFlags {
  json?: boolean;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** One readable line for an event: sequence, time, sender, what happened. */
export function describeEvent(event: MissionEvent): string {
  const head = `#${String(event.sequence).padStart(4)} ${event.timestamp.slice(11, 23)} ${event.sender.padEnd(10)}`;
  switch (event.event_type) {
    case 'message':
      return `${head} message     ${event.topic} ${JSON.stringify(event.payload)}`;
    case 'checkpoint':
      return `${head} checkpoint  "${event.summary}" state=${JSON.stringify(event.state)}${event.files?.length ? ` files=${event.files.length}` : ''} id=${event.checkpoint_id}`;
    case 'handoff':
      return `${head} handoff     → ${event.recipient} "${event.note}" id=${event.handoff_id}`;
    case 'handoff_accepted':
      return `${head} accepted    handoff ${event.handoff_id}`;
    case 'participant_joined':
      return `${head} joined      ${event.participant.name} as ${event.participant.role}`;
    case 'role_changed':
      return `${head} role        ${event.name}: ${event.previous_role} → ${event.role}`;
    case 'isolation_configured':
      return `${head} isolation   ${event.profile} (level ${event.level})`;
    case 'cell_started':
      return `${head} cell start  ${event.cell_id} level ${event.level} ${JSON.stringify(event.command)}`;
    case 'cell_exited':
      return `${head} cell exit   ${event.cell_id} code=${event.exit_code} signal=${event.signal} ${Math.round(event.duration_ms)} ms`;
  }
}

export function describeAudit(record: AuditRecord): string {
  const outcome = record.outcome === 'allowed' ? 'allowed' : 'DENIED ';
  const who = `${record.participant} (${record.role ?? 'no role'})`;
  return `${record.timestamp.slice(11, 23)} ${outcome} ${who.padEnd(20)} ${record.action}${record.target ? ` ${record.target}` : ''}${record.reason ? ` — ${record.reason}` : ''}`;
}

export function printEvent(event: MissionEvent, flags: OutputFlags): void {
  if (flags.json) printJson(event);
  else process.stdout.write(`${describeEvent(event)}\n`);
}
