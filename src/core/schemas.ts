/**
 * Zod schemas for everything that crosses a boundary: command inputs (built per set of limits)
 * and the wire forms of events and dumps. The server and the client validate with these too.
 */
import { z } from 'zod';
import type { Limits } from './limits.js';
import { roleSchema, isolationProfileSchema } from './profiles.js';
import type { JsonObject } from './events.js';

// Control characters in names make logs and terminals lie about who did what. A lone surrogate is not
// Unicode: stores write UTF-8, which turns it into U+FFFD, so two names would become one identity.
const NO_CONTROL = /^(?:[^\u0000-\u001f\u007f\ud800-\udfff]|[\ud800-\udbff][\udc00-\udfff])*$/;

export const boundedName = (max: number) =>
  z.string().min(1, 'must not be empty').max(max).regex(NO_CONTROL, 'must not contain control characters or lone surrogates');

/**
 * A path inside a workspace: relative, `/`-separated, no `.`/`..`/empty segments, no backslash, NUL or
 * control characters — so restoring it can never write outside the workspace.
 */
export const workspacePath = z
  .string()
  .min(1)
  .max(4096)
  .refine(
    (path) => !path.startsWith('/') && !/[\\\u0000-\u001f]/.test(path) && path.split('/').every((s) => s !== '' && s !== '.' && s !== '..'),
    { message: 'must be a relative path inside the workspace (no absolute path, no . or .. segments)' },
  );

/**
 * A JSON object whose serialized size is at most `maxBytes` and nesting at most `maxDepth`.
 * Rejects anything JSON cannot represent faithfully (undefined, functions, NaN, class instances).
 */
export function jsonObjectSchema(what: string, maxBytes: number, maxDepth: number) {
  return z.custom<JsonObject>((value) => isJsonObject(value), { message: `${what} must be a JSON object` }).superRefine(
    (value, ctx) => {
      const problem = jsonProblem(value, maxDepth);
      if (problem) {
        ctx.addIssue({ code: 'custom', message: `${what} ${problem}` });
        return;
      }
      const bytes = Buffer.byteLength(JSON.stringify(value));
      if (bytes > maxBytes) ctx.addIssue({ code: 'custom', message: `${what} is ${bytes} bytes; the limit is ${maxBytes}` });
    },
  );
}

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && isPlain(value);
}

function isPlain(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * What keeps a value from being JSON nested at most `maxDepth` levels (`is nested deeper than …`, …), or
 * null. Walks iteratively (no recursion, so hostile nesting cannot overflow the stack).
 */
export function jsonProblem(root: unknown, maxDepth: number): string | null {
  const stack: Array<[unknown, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (value === null || typeof value === 'string' || typeof value === 'boolean') continue;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) return 'contains a number JSON cannot represent';
      continue;
    }
    if (typeof value !== 'object') return `contains a ${typeof value}, which is not JSON`;
    if (depth > maxDepth) return `is nested deeper than ${maxDepth} levels`;
    if (Array.isArray(value)) {
      for (const item of value) stack.push([item, depth + 1]);
    } else {
      if (!isPlain(value)) return 'contains an object that is not plain JSON';
      for (const item of Object.values(value)) stack.push([item, depth + 1]);
    }
  }
  return null;
}

/** Input schemas for every command, bound to one set of limits. */
export function commandSchemas(limits: Limits) {
  const name = boundedName(limits.maxNameLength);
  const text = z.string().max(limits.maxTextLength);
  const id = boundedName(limits.maxIdLength);
  const metadata = jsonObjectSchema('metadata', limits.maxPayloadBytes, limits.maxDepth);
  return {
    name,
    id,
    role: roleSchema,
    participant: z.strictObject({ name, role: roleSchema, metadata: metadata.default({}) }),
    publish: z.strictObject({
      topic: boundedName(limits.maxTopicLength),
      payload: jsonObjectSchema('payload', limits.maxPayloadBytes, limits.maxDepth),
      message_id: id.optional(),
    }),
    checkpoint: z.strictObject({
      summary: text,
      state: jsonObjectSchema('state', limits.maxStateBytes, limits.maxDepth),
      artifacts: z.array(z.string().min(1).max(4096)).max(limits.maxArtifacts).default([]),
      files: z
        .array(
          z.strictObject({
            path: workspacePath,
            size: z.number().int().nonnegative(),
            sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex sha256'),
          }),
        )
        .max(limits.maxArtifacts)
        .optional(),
    }),
    handoff: z.strictObject({ recipient: name, checkpoint_id: id, note: text.default('') }),
    accept: z.strictObject({ handoff_id: id }),
    changeRole: z.strictObject({ name, role: roleSchema }),
    configureIsolation: z.strictObject({ profile: name }),
    cellStarted: z.strictObject({
      cell_id: id,
      level: z.number().int().min(1).max(3),
      profile: name,
      command: z.array(z.string().max(limits.maxTextLength)).max(1024),
    }),
    cellExited: z.strictObject({
      cell_id: id,
      exit_code: z.number().int().nullable(),
      signal: z.string().max(32).nullable(),
      duration_ms: z.number().nonnegative(),
    }),
    title: z.string().max(limits.maxTextLength),
    missionId: boundedName(limits.maxNameLength),
  };
}
export type CommandSchemas = ReturnType<typeof commandSchemas>;

// ---- wire forms (import/export); lenient on the seed's aliases, strict on types ----

const anyJsonObject = z.record(z.string(), z.unknown()) as unknown as z.ZodType<JsonObject>;
const timestamp = z.string().min(1).max(64);
const wireId = z.string().min(1).max(256);
const sequence = z.coerce.number().int().positive();

/** Names in an imported dump obey the same rules as names sent to the API (bounded, no control characters). */
const wireName = boundedName(256);

export const participantDictSchema = z.object({
  name: wireName,
  role: roleSchema,
  metadata: anyJsonObject.default({}),
});

const wireBase = { sender: wireName, sequence, timestamp: timestamp.optional() };

export const wireEventSchema = z.discriminatedUnion('event_type', [
  z.object({
    event_type: z.literal('message'),
    ...wireBase,
    topic: wireName,
    payload: anyJsonObject,
    message_id: wireId.optional(),
    messageId: wireId.optional(),
  }),
  z.object({
    event_type: z.literal('checkpoint'),
    ...wireBase,
    summary: z.string(),
    state: anyJsonObject.default({}),
    artifacts: z.array(z.string()).default([]),
    files: z.array(z.object({ path: workspacePath, size: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) })).optional(),
    checkpoint_id: wireId.optional(),
    checkpointId: wireId.optional(),
  }),
  z.object({
    event_type: z.literal('handoff'),
    ...wireBase,
    recipient: wireName,
    checkpoint_id: wireId.optional(),
    checkpointId: wireId.optional(),
    note: z.string().default(''),
    handoff_id: wireId.optional(),
    handoffId: wireId.optional(),
  }),
  z.object({ event_type: z.literal('participant_joined'), ...wireBase, participant: participantDictSchema, event_id: wireId }),
  z.object({
    event_type: z.literal('role_changed'),
    ...wireBase,
    name: wireName,
    previous_role: roleSchema,
    role: roleSchema,
    event_id: wireId,
  }),
  z.object({
    event_type: z.literal('handoff_accepted'),
    ...wireBase,
    handoff_id: wireId,
    checkpoint_id: wireId,
    event_id: wireId,
  }),
  z.object({
    event_type: z.literal('isolation_configured'),
    ...wireBase,
    profile: z.string().min(1),
    level: z.number().int(),
    event_id: wireId,
  }),
  z.object({
    event_type: z.literal('cell_started'),
    ...wireBase,
    cell_id: wireId,
    level: z.number().int(),
    profile: z.string(),
    command: z.array(z.string()),
    event_id: wireId,
  }),
  z.object({
    event_type: z.literal('cell_exited'),
    ...wireBase,
    cell_id: wireId,
    exit_code: z.number().int().nullable(),
    signal: z.string().nullable(),
    duration_ms: z.number(),
    event_id: wireId,
  }),
]);

export const missionDictSchema = z.object({
  mission_id: boundedName(256),
  title: z.string().default(''),
  config: z.unknown().optional(),
  participants: z.record(z.string(), participantDictSchema).default({}),
  events: z.array(z.unknown()).default([]),
  missionbus: z
    .object({
      format: z.literal(1),
      founders: z.record(z.string(), participantDictSchema),
      extended_events: z.array(z.unknown()).default([]),
      created_at: z.string().optional(),
    })
    .optional(),
});

export { isolationProfileSchema };
