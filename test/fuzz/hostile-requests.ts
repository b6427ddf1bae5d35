/**
 * fast-check arbitraries for hostile HTTP requests against the fuzz world (world.ts): every request is
 * built to be refused — a missing, garbage or other mission's token, a body that breaks its schema, the
 * wrong media type, malformed or truncated JSON, a body over the limit, bad queries and path parameters,
 * ids of the other mission, a role without the capability, a replay of something already done, an
 * unknown route, a foreign Host, a broken WebSocket handshake — with unicode edge cases (lone surrogates,
 * NUL, RTL overrides) and forged `sender` fields sprinkled through the parts that are not the defect.
 *
 * `HOSTILE_OPERATIONS` names the route table's operations these requests cover; the test fails when the
 * server has an operation that is not in it.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import type { World } from './world.js';

export interface HostileRequest {
  /** What makes it hostile (for the tally). */
  kind: string;
  operation: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** A WebSocket upgrade: sent on a connection of its own, which the server closes after answering. */
  upgrade?: boolean;
  /** The exact status, when the defect decides it; otherwise any 4xx. */
  status?: number;
  /** For a replayed idempotent publish: the answer must be this body, byte for byte. */
  sameAnswer?: string;
}

/** Operations (operationId) of the route table the generator covers. */
export const HOSTILE_OPERATIONS = [
  'health',
  'openapi',
  'whoami',
  'createMission',
  'importMission',
  'getMission',
  'addParticipant',
  'changeRole',
  'publish',
  'checkpoint',
  'handoff',
  'acceptHandoff',
  'resumePacket',
  'listEvents',
  'getEvent',
  'readAudit',
  'configureIsolation',
  'cellStarted',
  'cellExited',
  'putBlob',
  'getBlob',
  'exportMission',
  'streamEvents',
  'subscribeWebSocket',
  'publishWebSocket',
] as const;

const JSON_TYPE = { 'Content-Type': 'application/json' };
const MiB = 1024 * 1024;

// ---- values ----

/** Strings a careless server mishandles: lone surrogates, NUL and other controls, bidi overrides, BOM, joiners, astral. */
export const unicodeEdge = fc.oneof(
  fc.constantFrom('\ud800', 'a\udc00b', '\udbff\udfff\ud800', '\u0000', 'nul\u0000inside', '\u202eevil\u202c', '\u2066iso\u2069', '\ufeff', 'e\u0301', '👩‍👩‍👧', '\u0085', '\u2028\u2029', '\u007f', '\u001b[31m'),
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)), maxLength: 24 }),
  fc.string({ unit: 'binary', maxLength: 16 }),
);

const nonString = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 2 }));
const nonObject = fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }));
const nonArray = fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.boolean(), fc.constant(null), fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 2 }));

/** Control characters or lone surrogates somewhere in an otherwise ordinary string. */
const tainted = fc
  .tuple(fc.string({ maxLength: 6 }), fc.constantFrom('\u0000', '\u0007', '\n', '\u001f', '\u007f', '\ud800', '\udfff'), fc.string({ maxLength: 6 }))
  .map(([a, bad, b]) => a + bad + b);

/** Invalid values for a bounded name (participant, topic, id): wrong type, empty, too long, tainted. */
const badName = (max: number) => fc.oneof(nonString, fc.constant(''), fc.integer({ min: max + 1, max: max + 64 }).map((n) => 'n'.repeat(n)), tainted);

function nested(depth: number): unknown {
  let value: unknown = { leaf: true };
  for (let i = 0; i < depth; i++) value = { d: value };
  return value;
}

/**
 * Nesting too deep to build as a value here (JSON.stringify would overflow this process's stack): a marker
 * that `serialize` replaces with the nested JSON text.
 */
function deep(depth: number): string {
  return `__DEEP_${depth}__`;
}

/** JSON.stringify, with `deep` markers expanded into nested JSON text. */
export function serialize(value: unknown): string {
  return JSON.stringify(value).replace(/"__DEEP_(\d+)__"/g, (_, n: string) => `${'{"d":'.repeat(Number(n))}1${'}'.repeat(Number(n))}`);
}

/** Invalid JSON-object values (payload, state, metadata): not an object, too deep, too large. */
const badObject = (maxBytes: number) =>
  fc.oneof(
    { weight: 6, arbitrary: nonObject },
    { weight: 3, arbitrary: fc.integer({ min: 65, max: 90 }).map((d) => nested(d)) },
    { weight: 1, arbitrary: fc.constant(null).map(() => ({ pad: 'x'.repeat(maxBytes + 16) })) },
  );

const badText = fc.oneof(nonString, fc.constant('t'.repeat(16 * 1024 + 1)));

/** Artifact paths that must never reach a workspace: `..`, absolute, backslashes, NUL, empty and `.` segments. */
export const escapingPath = fc.oneof(
  fc.constantFrom('../etc/passwd', '/etc/passwd', 'a/../../b', '..', '.', 'a/./b', 'a//b', '', 'a\\..\\b', 'C:\\x', 'nul\u0000.txt', 'dir/', '/', 'a/\u0007', '%2e%2e/x'.replace('%2e%2e', '..')),
  fc.array(fc.constantFrom('..', '.', ''), { minLength: 1, maxLength: 4 }).map((parts) => [...parts, 'x'].join('/')),
);

const badFiles = fc.oneof(
  nonArray,
  escapingPath.map((path) => [{ path, size: 1, sha256: 'a'.repeat(64) }]),
  fc.constantFrom('A'.repeat(64), 'abc', 'g'.repeat(64), '').map((sha256) => [{ path: 'ok.txt', size: 1, sha256 }]),
  fc.constant([{ path: 'ok.txt', size: -1, sha256: 'a'.repeat(64) }]),
  fc.constant([{ path: 'ok.txt', size: 1, sha256: 'a'.repeat(64), mode: 0o777 }]),
);

// ---- bodies ----

interface BodySpec {
  valid: (w: World) => Record<string, unknown>;
  required: string[];
  invalid: Record<string, fc.Arbitrary<unknown>>;
}

const roles = ['lead', 'write', 'read', 'audit'];
const badRole = fc.oneof(nonString, fc.constantFrom('admin', 'root', 'Lead', 'LEAD', '', 'owner', 'lead ', '\u0000lead'));

const BODIES: Record<string, BodySpec> = {
  createMission: {
    valid: () => ({ mission_id: 'fuzz-new', title: 'fuzzed', lead: { name: 'founder' } }),
    required: ['mission_id', 'lead'],
    invalid: {
      mission_id: badName(128),
      title: badText,
      lead: fc.oneof(nonObject, badName(128).map((name) => ({ name })), fc.constant({ name: 'x', role: 'lead' }), badObject(256 * 1024).map((metadata) => ({ name: 'x', metadata }))),
      config: fc.oneof(
        fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), fc.constant(null), fc.array(fc.integer(), { maxLength: 2 })),
        fc.constant({ roles: { lead: ['fly'] } }),
        fc.constant({ roles: 'all' }),
        fc.constant({ isolation_profiles: [{ name: '' }] }),
        fc.integer({ min: 97, max: 20_000 }).map((d) => ({ extra: deep(d) })),
      ),
    },
  },
  addParticipant: {
    valid: () => ({ name: 'newcomer', role: 'read' }),
    required: ['name', 'role'],
    invalid: { name: fc.oneof(badName(128), fc.constantFrom('lead', 'writer', 'reader', 'auditor')), role: badRole, metadata: badObject(256 * 1024) },
  },
  changeRole: { valid: () => ({ role: 'write' }), required: ['role'], invalid: { role: badRole } },
  publish: {
    valid: () => ({ topic: 'fuzz', payload: { a: 1 } }),
    required: ['topic', 'payload'],
    invalid: { topic: badName(256), payload: badObject(256 * 1024), message_id: badName(128) },
  },
  checkpoint: {
    valid: () => ({ summary: 'fuzz', state: { s: 1 } }),
    required: ['summary', 'state'],
    invalid: {
      summary: badText,
      state: badObject(1024 * 1024),
      artifacts: fc.oneof(nonArray, fc.constant(['']), fc.constant(['a'.repeat(4097)]), fc.constant([1])),
      files: badFiles,
    },
  },
  handoff: {
    valid: (w) => ({ recipient: 'writer', checkpoint_id: w.alpha.checkpointId }),
    required: ['recipient', 'checkpoint_id'],
    invalid: {
      recipient: fc.oneof(badName(128), fc.constantFrom('nobody', 'reader', 'auditor')),
      checkpoint_id: fc.oneof(badName(128), fc.constantFrom('no-such-checkpoint')),
      note: badText,
    },
  },
  acceptHandoff: { valid: () => ({}), required: [], invalid: {} },
  configureIsolation: {
    valid: () => ({ profile: 'level1-directory' }),
    required: ['profile'],
    invalid: { profile: fc.oneof(badName(128), fc.constantFrom('level9', 'level1-Directory', 'host')) },
  },
  cellStarted: {
    valid: () => ({ cell_id: 'cell-1', level: 1, profile: 'level1-directory', command: ['make'] }),
    required: ['cell_id', 'level', 'profile', 'command'],
    invalid: {
      cell_id: badName(128),
      level: fc.oneof(fc.integer({ min: 4 }), fc.integer({ max: 0 }), fc.constant(1.5), fc.constant('1'), fc.constant(null)),
      profile: badName(128),
      command: fc.oneof(nonArray, fc.constant([1, null]), fc.constant(Array.from({ length: 1025 }, () => 'x'))),
    },
  },
  cellExited: {
    valid: () => ({ cell_id: 'cell-1', exit_code: 0, signal: null, duration_ms: 5 }),
    required: ['cell_id', 'exit_code', 'signal', 'duration_ms'],
    invalid: {
      cell_id: badName(128),
      exit_code: fc.oneof(fc.constant(0.5), fc.string({ maxLength: 3 }), fc.boolean(), fc.constant({})),
      signal: fc.oneof(fc.integer(), fc.boolean(), fc.constant('S'.repeat(33))),
      duration_ms: fc.oneof(fc.constant(-1), fc.string({ maxLength: 3 }), fc.constant(null), fc.boolean()),
    },
  },
};

/** Keys that must never be accepted: forged identity and event fields, prototype keys. */
const forgedKey = fc.oneof(
  fc.constantFrom('sender', 'sequence', 'timestamp', 'event_type', 'participant', 'actor', 'audit', '__proto__', 'constructor', 'prototype', 'id', 'mission'),
  fc.string({ minLength: 1, maxLength: 12 }),
);

type Mutation = { kind: 'invalid'; field: string; value: unknown } | { kind: 'delete'; field: string } | { kind: 'unknown'; key: string; value: unknown };

/** One to three mutations, each of which alone makes the body invalid. */
function mutations(spec: BodySpec, w: World): fc.Arbitrary<Mutation[]> {
  const known = new Set([...Object.keys(spec.valid(w)), ...Object.keys(spec.invalid), ...spec.required]);
  const options: Array<fc.Arbitrary<Mutation>> = [
    fc
      .tuple(forgedKey.filter((key) => !known.has(key)), fc.oneof(fc.string(), unicodeEdge, fc.integer(), fc.constant('lead')))
      .map(([key, value]) => ({ kind: 'unknown' as const, key, value })),
  ];
  for (const [field, values] of Object.entries(spec.invalid)) options.push(values.map((value) => ({ kind: 'invalid' as const, field, value })));
  if (spec.required.length > 0) options.push(fc.constantFrom(...spec.required).map((field) => ({ kind: 'delete' as const, field })));
  return fc.array(fc.oneof(...options), { minLength: 1, maxLength: 3 });
}

function applyMutations(body: Record<string, unknown>, list: Mutation[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body };
  for (const mutation of list) {
    if (mutation.kind === 'invalid') out[mutation.field] = mutation.value;
    else if (mutation.kind === 'delete') delete out[mutation.field];
    else Object.defineProperty(out, mutation.key, { value: mutation.value, enumerable: true, configurable: true, writable: true });
  }
  return out;
}

/** A body refused by its schema or by the rules, serialized; unicode edge cases may replace the valid strings left. */
function invalidBody(operation: string, w: World): fc.Arbitrary<Buffer> {
  const spec = BODIES[operation]!;
  const topLevel = fc.oneof(fc.constant('[]'), fc.constant('null'), fc.constant('"body"'), fc.constant('42'), fc.constant('true'), fc.constant('[{}]'));
  const mutated = fc
    .tuple(mutations(spec, w), fc.option(unicodeEdge, { nil: undefined }), fc.boolean())
    .map(([list, edge, rawJunk]) => {
      const body = applyMutations(spec.valid(w), list);
      // Replace a string the mutations left valid with a unicode edge case: refused or not, the body already is.
      if (edge !== undefined) {
        const touched = new Set(list.map((m) => (m.kind === 'unknown' ? m.key : m.field)));
        const key = Object.keys(body).find((k) => typeof body[k] === 'string' && !touched.has(k));
        if (key) body[key] = edge;
      }
      const text = serialize(body);
      // Bytes that are not UTF-8 at all, inside a string of a field that should not be there.
      if (rawJunk && text.length > 2) {
        return Buffer.concat([Buffer.from(text.slice(0, -1) + ',"junk":"'), Buffer.from([0xff, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0x00]), Buffer.from('"}')]);
      }
      return Buffer.from(text);
    });
  return fc.oneof({ weight: 8, arbitrary: operation === 'acceptHandoff' ? acceptBody : mutated }, { weight: 1, arbitrary: topLevel.map((t) => Buffer.from(t)) });
}

/** Accept takes no body but `{}`: anything else in it is refused. */
const acceptBody = fc.tuple(forgedKey, fc.oneof(fc.string(), fc.constant('writer'))).map(([key, value]) => Buffer.from(`{${JSON.stringify(key)}:${JSON.stringify(value)}}`));

/** Text that is not JSON: truncated valid JSON (a proper prefix of an object never is), junk, JSON5-isms, BOM, raw bytes. */
function malformedJson(operation: string, w: World): fc.Arbitrary<Buffer> {
  const text = JSON.stringify(BODIES[operation]!.valid(w));
  return fc.oneof(
    fc.integer({ min: 1, max: text.length - 1 }).map((cut) => Buffer.from(text.slice(0, cut))),
    fc.constantFrom("{'topic': 't'}", '{"topic":"t",}', '{"a":NaN}', '{"a":1}/*c*/', '\ufeff{}', '{"a":01}', '{"a":"\\x41"}', '{"a":"\t"}', 'undefined', '{"a":1}}', '{{}}', '["unclosed"').map((t) => Buffer.from(t)),
    fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => Buffer.concat([Buffer.from('{'), Buffer.from(bytes)])),
  );
}

// ---- paths, queries, headers ----

const MISSION_PATH = (id: string) => `/v1/missions/${encodeURIComponent(id)}`;

interface Target {
  operation: string;
  method: 'GET' | 'POST' | 'PUT';
  path: (w: World, mission: string) => string;
  auth: 'none' | 'creator' | 'token' | 'participant';
  body?: 'json' | 'bytes';
  /** Roles of alpha that may do it with a valid request (the others are refused by the rules). */
  allowed?: string[];
}

const TARGETS: Target[] = [
  { operation: 'health', method: 'GET', path: () => '/healthz', auth: 'none' },
  { operation: 'openapi', method: 'GET', path: () => '/openapi.json', auth: 'none' },
  { operation: 'whoami', method: 'GET', path: () => '/v1/whoami', auth: 'token' },
  { operation: 'createMission', method: 'POST', path: () => '/v1/missions', auth: 'creator', body: 'json' },
  { operation: 'importMission', method: 'POST', path: () => '/v1/missions/import', auth: 'creator', body: 'json' },
  { operation: 'getMission', method: 'GET', path: (_w, m) => MISSION_PATH(m), auth: 'participant', allowed: roles },
  { operation: 'addParticipant', method: 'POST', path: (_w, m) => `${MISSION_PATH(m)}/participants`, auth: 'participant', body: 'json', allowed: ['lead'] },
  { operation: 'changeRole', method: 'PUT', path: (_w, m) => `${MISSION_PATH(m)}/participants/reader/role`, auth: 'participant', body: 'json', allowed: ['lead'] },
  { operation: 'publish', method: 'POST', path: (_w, m) => `${MISSION_PATH(m)}/messages`, auth: 'participant', body: 'json', allowed: ['lead', 'writer'] },
  { operation: 'checkpoint', method: 'POST', path: (_w, m) => `${MISSION_PATH(m)}/checkpoints`, auth: 'participant', body: 'json', allowed: ['lead', 'writer'] },
  { operation: 'handoff', method: 'POST', path: (_w, m) => `${MISSION_PATH(m)}/handoffs`, auth: 'participant', body: 'json', allowed: ['lead', 'writer'] },
  { operation: 'acceptHandoff', method: 'POST', path: (w, m) => `${MISSION_PATH(m)}/handoffs/${w.alpha.openHandoffId}/accept`, auth: 'participant', body: 'json', allowed: ['writer'] },
  { operation: 'resumePacket', method: 'GET', path: (w, m) => `${MISSION_PATH(m)}/handoffs/${w.alpha.openHandoffId}/resume`, auth: 'participant', allowed: roles },
  { operation: 'listEvents', method: 'GET', path: (_w, m) => `${MISSION_PATH(m)}/events`, auth: 'participant', allowed: roles },
  { operation: 'getEvent', method: 'GET', path: (w, m) => `${MISSION_PATH(m)}/events/${w.alpha.messageId}`, auth: 'participant', allowed: roles },
  { operation: 'readAudit', method: 'GET', path: (_w, m) => `${MISSION_PATH(m)}/audit`, auth: 'participant', allowed: ['lead', 'auditor'] },
  { operation: 'configureIsolation', method: 'PUT', path: (_w, m) => `${MISSION_PATH(m)}/isolation`, auth: 'participant', body: 'json', allowed: ['lead'] },
  { operation: 'cellStarted', method: 'POST', path: (_w, m) => `${MISSION_PATH(m)}/cells/started`, auth: 'participant', body: 'json', allowed: ['lead', 'writer'] },
  { operation: 'cellExited', method: 'POST', path: (_w, m) => `${MISSION_PATH(m)}/cells/exited`, auth: 'participant', body: 'json', allowed: ['lead', 'writer'] },
  { operation: 'putBlob', method: 'PUT', path: (w, m) => `${MISSION_PATH(m)}/blobs/${w.alpha.blob.sha256}`, auth: 'participant', body: 'bytes', allowed: ['lead', 'writer'] },
  { operation: 'getBlob', method: 'GET', path: (w, m) => `${MISSION_PATH(m)}/blobs/${w.alpha.blob.sha256}`, auth: 'participant', allowed: roles },
  { operation: 'exportMission', method: 'GET', path: (_w, m) => `${MISSION_PATH(m)}/export`, auth: 'participant', allowed: roles },
  { operation: 'streamEvents', method: 'GET', path: (_w, m) => `${MISSION_PATH(m)}/stream`, auth: 'participant', allowed: roles },
  { operation: 'subscribeWebSocket', method: 'GET', path: (_w, m) => `${MISSION_PATH(m)}/ws`, auth: 'participant', allowed: roles },
  { operation: 'publishWebSocket', method: 'GET', path: (_w, m) => `${MISSION_PATH(m)}/publish`, auth: 'participant', allowed: roles },
];

const PARTICIPANT_TARGETS = TARGETS.filter((t) => t.auth === 'participant');
const JSON_TARGETS = TARGETS.filter((t) => t.body === 'json' && t.auth === 'participant');
const STREAMING = new Set(['subscribeWebSocket', 'publishWebSocket', 'streamEvents']);
const ALPHA_ROLES = ['lead', 'writer', 'reader', 'auditor'];

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

/** A valid request body for a target (never sent as is with a role allowed to use it). */
function validBody(target: Target, w: World): Buffer | undefined {
  if (target.body === 'bytes') return w.alpha.blob.bytes;
  if (target.operation === 'importMission') return Buffer.from(JSON.stringify(w.alpha.export));
  if (target.body === 'json') return Buffer.from(JSON.stringify(BODIES[target.operation]!.valid(w)));
  return undefined;
}

/** Any body for a target: valid or not (for requests already refused by their token). */
function anyBody(target: Target, w: World): fc.Arbitrary<Buffer | undefined> {
  if (target.body === 'json') return fc.oneof(fc.constant(validBody(target, w)), invalidBody(target.operation, w), malformedJson(target.operation, w));
  if (target.body === 'bytes') return fc.uint8Array({ maxLength: 256 }).map((bytes) => Buffer.from(bytes));
  return fc.constant(undefined);
}

function headersFor(target: Target, body: Buffer | undefined): Record<string, string> {
  return target.body === 'json' && body !== undefined ? { ...JSON_TYPE } : target.body === 'bytes' ? { 'Content-Type': 'application/octet-stream' } : {};
}

const upgradeHeaders = {
  Upgrade: 'websocket',
  Connection: 'Upgrade',
  'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
  'Sec-WebSocket-Version': '13',
};

/** Streaming targets are attacked with a WebSocket handshake (ws, publish) or as SSE (stream). */
function asRequest(
  target: Target,
  w: World,
  kind: string,
  parts: { mission?: string; headers?: Record<string, string>; body?: Buffer; query?: string; path?: string; status?: number },
): HostileRequest {
  const path = (parts.path ?? target.path(w, parts.mission ?? 'alpha')) + (parts.query ?? '');
  const upgrade = target.operation === 'subscribeWebSocket' || target.operation === 'publishWebSocket';
  return {
    kind,
    operation: target.operation,
    method: target.method,
    path,
    headers: { ...(upgrade ? upgradeHeaders : {}), ...headersFor(target, parts.body), ...parts.headers },
    body: parts.body,
    upgrade,
    status: parts.status,
  };
}

// ---- the kinds of hostile request ----

const garbageToken = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_-]{43}$/),
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 80 }).filter((s) => s.trim() === s && !/[\s]/.test(s)),
  fc.constantFrom('null', 'undefined', '0', 'A'.repeat(44), 'A'.repeat(42), '../../admin', 'Bearer', '*'),
);
const malformedAuthorization = fc.constantFrom('Basic Zm9vOmJhcg==', 'Bearer', 'Bearer ', 'Token abc', 'Bearer a b', 'bearer', 'Digest x', 'Bearer\ttoo many parts here');

function tokenDefects(w: World): fc.Arbitrary<HostileRequest> {
  const target = fc.constantFrom(...TARGETS.filter((t) => t.auth === 'participant' || t.auth === 'token'));
  return target.chain((t) =>
    fc
      .tuple(
        fc.oneof(
          fc.constant({ kind: 'no token', headers: {} as Record<string, string>, status: 401 }),
          garbageToken.map((token) => ({ kind: 'garbage token', headers: bearer(token), status: 401 })),
          malformedAuthorization.map((value) => ({ kind: 'malformed Authorization', headers: { Authorization: value }, status: 401 })),
          fc.constantFrom(...Object.values(w.bravo.tokens)).map((token) => ({ kind: "other mission's token", headers: bearer(token), status: t.auth === 'token' ? 0 : 403 })),
          ...(t.operation === 'streamEvents' || STREAMING.has(t.operation)
            ? [garbageToken.map((token) => ({ kind: 'garbage access_token', headers: {} as Record<string, string>, query: `?access_token=${encodeURIComponent(token)}`, status: 401 }))]
            : []),
        ),
        anyBody(t, w),
      )
      // An other mission's token on whoami is valid: it names that mission. Not hostile there.
      .filter(([defect]) => defect.status !== 0)
      .map(([defect, body]) => asRequest(t, w, defect.kind, { headers: defect.headers, body, query: 'query' in defect ? (defect.query as string) : undefined, status: defect.status })),
  );
}

function bodyDefects(w: World): fc.Arbitrary<HostileRequest> {
  return fc.constantFrom(...JSON_TARGETS).chain((t) => {
    const token = fc.constantFrom(...(t.allowed ?? ALPHA_ROLES)).map((role) => w.alpha.tokens[role]!);
    return fc.oneof(
      { weight: 10, arbitrary: fc.tuple(token, invalidBody(t.operation, w)).map(([tk, body]) => asRequest(t, w, 'invalid body', { headers: bearer(tk), body })) },
      { weight: 3, arbitrary: fc.tuple(token, malformedJson(t.operation, w)).map(([tk, body]) => asRequest(t, w, 'malformed JSON', { headers: bearer(tk), body, status: 400 })) },
      {
        weight: 3,
        arbitrary: fc
          .tuple(token, fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx', 'json', 'application/json-patch+json', 'text/json', ''))
          .map(([tk, type]) => {
            const request = asRequest(t, w, 'wrong media type', { headers: bearer(tk), body: validBody(t, w), status: 415 });
            if (type === '') delete request.headers['Content-Type'];
            else request.headers['Content-Type'] = type;
            return request;
          }),
      },
      ...(t.operation === 'acceptHandoff'
        ? []
        : [{ weight: 1, arbitrary: token.map((tk) => asRequest(t, w, 'empty body', { headers: bearer(tk), body: Buffer.alloc(0), status: 400 })) }]),
      {
        weight: 1,
        arbitrary: token.map((tk) => asRequest(t, w, 'body over the limit', { headers: bearer(tk), body: Buffer.from(JSON.stringify({ topic: 't', payload: { pad: 'x'.repeat(MiB) } })), status: 413 })),
      },
      {
        weight: 1,
        arbitrary: fc.tuple(token, fc.integer({ min: 97, max: 20_000 })).map(([tk, depth]) =>
          asRequest(t, w, 'nesting too deep', { headers: bearer(tk), body: Buffer.from(`{"topic":"t","payload":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`), status: 400 }),
        ),
      },
    );
  });
}

function blobDefects(w: World): fc.Arbitrary<HostileRequest> {
  const put = TARGETS.find((t) => t.operation === 'putBlob')!;
  const writerLike = fc.constantFrom('lead', 'writer').map((role) => w.alpha.tokens[role]!);
  return fc.oneof(
    // Bytes under someone else's hash.
    fc.tuple(writerLike, fc.uint8Array({ maxLength: 512 })).map(([token, bytes]) => {
      const body = Buffer.from(bytes);
      const other = createHash('sha256').update(Buffer.concat([body, Buffer.from('!')])).digest('hex');
      return asRequest(put, w, 'blob under a wrong hash', { headers: bearer(token), body, path: `${MISSION_PATH('alpha')}/blobs/${other}`, status: 400 });
    }),
    // Not a sha256 at all.
    fc.tuple(writerLike, fc.constantFrom('ABC', 'A'.repeat(64), 'g'.repeat(64), '0'.repeat(63), '0'.repeat(65), '..%2F..%2Fetc', '%00')).map(([token, sha]) =>
      asRequest(put, w, 'blob path not a sha256', { headers: bearer(token), body: Buffer.from('x'), path: `${MISSION_PATH('alpha')}/blobs/${sha}` }),
    ),
    writerLike.map((token) => asRequest(put, w, 'blob over the limit', { headers: bearer(token), body: Buffer.alloc(MiB + 1, 7), path: `${MISSION_PATH('alpha')}/blobs/${'0'.repeat(64)}`, status: 413 })),
  );
}

function queryAndPathDefects(w: World): fc.Arbitrary<HostileRequest> {
  const own = fc.constantFrom(...ALPHA_ROLES).map((role) => w.alpha.tokens[role]!);
  const queries: Record<string, fc.Arbitrary<string>> = {
    listEvents: fc.constantFrom('?from=0', '?from=-1', '?from=abc', '?from=1.5', '?from=', '?from=Infinity', '?limit=0', '?limit=1001', '?limit=x', '?from=1&limit=-5', '?from=9007199254740993e10'),
    readAudit: fc.constantFrom('?after=-1', '?after=x', '?after=1.5', '?limit=0', '?limit=100000'),
    exportMission: fc.constantFrom('?format=xml', '?format=SEED', '?format=', '?format=seed%00'),
    streamEvents: fc.constantFrom('?from=0', '?from=x', '?from=-3'),
    subscribeWebSocket: fc.constantFrom('?from=0', '?from=x', '?from=1.5'),
  };
  const unknownParam = fc
    .tuple(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 10 }).filter((k) => !['from', 'limit', 'after', 'format', 'access_token'].includes(k)), fc.string({ maxLength: 10 }))
    .map(([key, value]) => `?${encodeURIComponent(key)}=${encodeURIComponent(value)}`);
  const badSegment = fc.constantFrom('%ED%A0%80', '%C0%AF', '%FF', '%ZZ', '%00', 'a%0Ab', '%E2%80%AE', 'x'.repeat(200), '..', '%2e%2e', 'a%2Fb');
  return fc.constantFrom(...PARTICIPANT_TARGETS).chain((t) =>
    fc.oneof(
      fc.tuple(own, unknownParam, anyBody(t, w)).map(([token, query, body]) => asRequest(t, w, 'unknown query parameter', { headers: bearer(token), query, body, status: 400 })),
      ...(queries[t.operation] ? [fc.tuple(own, queries[t.operation]!).map(([token, query]) => asRequest(t, w, 'invalid query value', { headers: bearer(token), query, status: 400 }))] : []),
      fc.tuple(own, badSegment, anyBody(t, w), fc.boolean()).map(([token, segment, body, second]) => {
        // Replace one parameter segment of the path: the mission, or the id or name after it.
        const parts = t.path(w, 'alpha').split('/');
        const at = second && parts[5] !== undefined ? 5 : 3;
        parts[at] = segment;
        return asRequest(t, w, 'invalid path parameter', { headers: bearer(token), body, path: parts.join('/') });
      }),
      ...(t.operation === 'streamEvents'
        ? [fc.tuple(own, fc.constantFrom('abc', '-1', '1.5', '1'.repeat(16), '', '1 2', '0x10')).map(([token, id]) => asRequest(t, w, 'invalid Last-Event-ID', { headers: { ...bearer(token), 'Last-Event-ID': id }, status: 400 }))]
        : []),
    ),
  );
}

/** Alpha's own tokens (of a role that may act) with ids that belong to bravo, or to no mission. */
function otherMissionIds(w: World): fc.Arbitrary<HostileRequest> {
  const target = (operation: string) => TARGETS.find((t) => t.operation === operation)!;
  const role = (...names: string[]) => fc.constantFrom(...names).map((name) => w.alpha.tokens[name]!);
  const base = `${MISSION_PATH('alpha')}`;
  const foreignIds = fc.constantFrom(...w.bravo.eventIds, 'no-such-id', w.bravo.openHandoffId.toUpperCase());
  return fc.oneof(
    fc.tuple(role('writer'), fc.constantFrom(w.bravo.openHandoffId, w.bravo.acceptedHandoffId, 'no-such-handoff')).map(([token, hid]) =>
      asRequest(target('acceptHandoff'), w, "other mission's handoff", { headers: bearer(token), path: `${base}/handoffs/${hid}/accept`, body: Buffer.from('{}'), status: 404 }),
    ),
    fc.tuple(role(...ALPHA_ROLES), fc.constantFrom(w.bravo.openHandoffId, w.bravo.acceptedHandoffId)).map(([token, hid]) =>
      asRequest(target('resumePacket'), w, "other mission's handoff", { headers: bearer(token), path: `${base}/handoffs/${hid}/resume`, status: 404 }),
    ),
    fc.tuple(role(...ALPHA_ROLES), foreignIds).map(([token, id]) => asRequest(target('getEvent'), w, "other mission's event", { headers: bearer(token), path: `${base}/events/${encodeURIComponent(id)}`, status: 404 })),
    fc.tuple(role(...ALPHA_ROLES), fc.constantFrom(w.bravo.blob.sha256, 'f'.repeat(64))).map(([token, sha]) => asRequest(target('getBlob'), w, "other mission's blob", { headers: bearer(token), path: `${base}/blobs/${sha}`, status: 404 })),
    fc.tuple(role('lead', 'writer'), fc.constantFrom(w.bravo.checkpointId, 'no-such-checkpoint')).map(([token, checkpoint_id]) =>
      asRequest(target('handoff'), w, "other mission's checkpoint", { headers: bearer(token), body: Buffer.from(JSON.stringify({ recipient: 'writer', checkpoint_id })), status: 404 }),
    ),
    role('lead', 'writer').map((token) =>
      asRequest(target('checkpoint'), w, "other mission's blob in a checkpoint", {
        headers: bearer(token),
        body: Buffer.from(JSON.stringify({ summary: 's', state: {}, files: [{ path: 'stolen.md', size: w.bravo.blob.bytes.length, sha256: w.bravo.blob.sha256 }] })),
        status: 400,
      }),
    ),
    role('lead').map((token) =>
      asRequest(target('changeRole'), w, "other mission's participant", { headers: bearer(token), path: `${base}/participants/nobody/role`, body: Buffer.from('{"role":"read"}'), status: 404 }),
    ),
  );
}

/** A valid request by a role of alpha that lacks the capability: refused by the rules (and audited as denied). */
function roleLacking(w: World): fc.Arbitrary<HostileRequest> {
  const candidates = TARGETS.filter((t) => t.allowed && t.allowed.length < ALPHA_ROLES.length && !STREAMING.has(t.operation));
  return fc.constantFrom(...candidates).chain((t) =>
    fc.constantFrom(...ALPHA_ROLES.filter((role) => !t.allowed!.includes(role))).map((role) =>
      asRequest(t, w, 'role lacks the capability', { headers: bearer(w.alpha.tokens[role]!), body: validBody(t, w), status: 403 }),
    ),
  );
}

/** What was already done, done again: refused as a conflict, or (an idempotent publish) answered with the same event. */
function replays(w: World): fc.Arbitrary<HostileRequest> {
  const t = (operation: string) => TARGETS.find((target) => target.operation === operation)!;
  const lead = w.alpha.tokens.lead!;
  const writer = w.alpha.tokens.writer!;
  const list: HostileRequest[] = [
    asRequest(t('createMission'), w, 'replay', { body: Buffer.from(JSON.stringify({ mission_id: 'alpha', title: 'mission alpha', lead: { name: 'lead' } })), status: 409 }),
    asRequest(t('importMission'), w, 'replay', { body: Buffer.from(JSON.stringify(w.alpha.export)), status: 409 }),
    asRequest(t('importMission'), w, 'replay', { body: Buffer.from(JSON.stringify(w.bravo.export)), status: 409 }),
    asRequest(t('addParticipant'), w, 'replay', { headers: bearer(lead), body: Buffer.from('{"name":"writer","role":"write"}'), status: 409 }),
    asRequest(t('changeRole'), w, 'replay', { headers: bearer(lead), body: Buffer.from('{"role":"read"}'), status: 409 }),
    asRequest(t('acceptHandoff'), w, 'replay', { headers: bearer(writer), path: `${MISSION_PATH('alpha')}/handoffs/${w.alpha.acceptedHandoffId}/accept`, body: Buffer.from('{}'), status: 409 }),
    { ...asRequest(t('publish'), w, 'replay', { headers: bearer(writer), body: Buffer.from(w.publishedMessage.body), status: 200 }), sameAnswer: w.publishedMessage.answer },
  ];
  return fc.constantFrom(...list);
}

/** Creating or importing (open on a loopback server) with a body that must be refused. */
function creatorDefects(w: World): fc.Arbitrary<HostileRequest> {
  const create = TARGETS.find((t) => t.operation === 'createMission')!;
  const imp = TARGETS.find((t) => t.operation === 'importMission')!;
  const exported = w.alpha.export as { events: Array<Record<string, unknown>>; missionbus: { extended_events: unknown[] } } & Record<string, unknown>;
  const importMutations: Array<fc.Arbitrary<unknown>> = [
    fc.constant({ ...exported, mission_id: undefined }),
    nonString.map((mission_id) => ({ ...exported, mission_id })),
    tainted.map((mission_id) => ({ ...exported, mission_id })),
    fc.constant({ ...exported, mission_id: 'imported', events: [...exported.events, { ...exported.events[0]!, sequence: 999 }] }),
    fc.constant({ ...exported, mission_id: 'imported', events: [{ event_type: 'handoff', sender: 'lead', sequence: 1, recipient: 'writer', checkpoint_id: 'ghost', handoff_id: 'h' }], missionbus: undefined }),
    fc.constant({ ...exported, mission_id: 'imported', events: 'all of them' }),
    fc.constant({ ...exported, mission_id: 'imported', events: [{ event_type: 'teleport', sender: 'lead', sequence: 1 }], missionbus: undefined }),
    fc.integer({ min: 97, max: 20_000 }).map((depth) => ({ mission_id: 'imported', participants: { l: { name: 'l', role: 'lead' } }, events: [{ event_type: 'message', sender: 'l', sequence: 1, topic: 't', payload: deep(depth) }] })),
    fc.constant({ ...exported, mission_id: 'imported', participants: { writer: { name: 'writer', role: 'lead' } } }),
    // A checkpoint whose files would be restored outside the workspace.
    escapingPath.map((path) => ({
      mission_id: 'imported',
      participants: { l: { name: 'l', role: 'lead' } },
      events: [{ event_type: 'checkpoint', sender: 'l', sequence: 1, summary: 's', state: {}, files: [{ path, size: 1, sha256: 'a'.repeat(64) }], checkpoint_id: 'c' }],
    })),
    tainted.map((name) => ({ mission_id: 'imported', participants: { [name]: { name, role: 'lead' } }, events: [] })),
  ];
  return fc.oneof(
    { weight: 3, arbitrary: invalidBody('createMission', w).map((body) => asRequest(create, w, 'invalid body', { body })) },
    { weight: 1, arbitrary: malformedJson('createMission', w).map((body) => asRequest(create, w, 'malformed JSON', { body, status: 400 })) },
    { weight: 2, arbitrary: fc.oneof(...importMutations).map((dump) => asRequest(imp, w, 'invalid import', { body: Buffer.from(serialize(dump)) })) },
  );
}

/** Unknown routes, wrong methods, a Host that is not loopback (DNS rebinding). */
function routing(w: World): fc.Arbitrary<HostileRequest> {
  const segment = fc.oneof(fc.stringMatching(/^[a-z0-9._~-]{1,12}$/), fc.constantFrom('%ED%A0%80', '%00', '..', '%2F', 'v2', 'missions', 'alpha'));
  return fc.oneof(
    fc.array(segment, { minLength: 1, maxLength: 6 }).map((parts) => ({ kind: 'unknown route', operation: 'none', method: 'GET', path: `/v1/x/${parts.join('/')}`, headers: bearer(w.alpha.tokens.lead!), status: 404 })),
    fc.tuple(fc.constantFrom(...TARGETS), fc.constantFrom('DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND', 'POST', 'PUT')).filter(([t, method]) => !TARGETS.some((other) => other.method === method && other.path(w, 'alpha') === t.path(w, 'alpha'))).map(([t, method]) => ({
      ...asRequest(t, w, 'wrong method', { headers: bearer(w.alpha.tokens.lead!) }),
      method,
      upgrade: false,
      headers: { ...bearer(w.alpha.tokens.lead!), ...(method === 'POST' || method === 'PUT' ? JSON_TYPE : {}) },
      body: method === 'POST' || method === 'PUT' ? Buffer.from('{}') : undefined,
      status: 405,
    })),
    fc.tuple(fc.constantFrom(...TARGETS.filter((t) => !STREAMING.has(t.operation))), fc.constantFrom('evil.example', 'attacker.test:80', '127.0.0.1.nip.io', 'localhost.evil', '[::2]')).map(([t, host]) => ({
      ...asRequest(t, w, 'foreign Host', { headers: { ...bearer(w.alpha.tokens.lead!), Host: host }, body: validBody(t, w) }),
      status: 403,
    })),
  );
}

/** WebSocket handshakes that must be refused (each on a connection of its own). */
function upgradeDefects(w: World): fc.Arbitrary<HostileRequest> {
  const targets = TARGETS.filter((t) => t.operation === 'subscribeWebSocket' || t.operation === 'publishWebSocket');
  const own = fc.constantFrom(...ALPHA_ROLES).map((role) => w.alpha.tokens[role]!);
  return fc.constantFrom(...targets).chain((t) =>
    fc.oneof(
      fc.tuple(own, fc.constantFrom('', 'short', 'dGhlIHNhbXBsZSBub25jZQ', 'dGhlIHNhbXBsZSBub25jZQ=!', '!!!!!!!!!!!!!!!!!!!!!!==')).map(([token, key]) =>
        asRequest(t, w, 'bad WebSocket key', { headers: { ...bearer(token), 'Sec-WebSocket-Key': key }, status: 400 }),
      ),
      fc.tuple(own, fc.constantFrom('8', '12', '14', '', 'thirteen')).map(([token, version]) => asRequest(t, w, 'bad WebSocket version', { headers: { ...bearer(token), 'Sec-WebSocket-Version': version }, status: 400 })),
      fc.tuple(own, fc.constantFrom('h2c', 'websocket2', 'TLS/1.2', 'IRC/6.9')).map(([token, upgrade]) => asRequest(t, w, 'not a WebSocket upgrade', { headers: { ...bearer(token), Upgrade: upgrade }, status: 400 })),
      fc.tuple(own, fc.constantFrom('POST', 'PUT')).map(([token, method]) => ({ ...asRequest(t, w, 'upgrade with a wrong method', { headers: { ...bearer(token), 'Content-Length': '0' } }), method, status: 405 })),
      fc.tuple(own, fc.constantFrom('?from=0', '?from=x', '?unknown=1', '?from=1&x=2')).map(([token, query]) => asRequest(t, w, 'upgrade with a bad query', { headers: bearer(token), query, status: 400 })),
      own.map((token) => ({ ...asRequest(t, w, 'plain GET on a WebSocket route', { headers: bearer(token), status: 426 }), upgrade: false, headers: bearer(token) })),
    ),
  );
}

/** Every kind of hostile request, weighted so that a run of 10,000 hits each kind many times. */
export function hostileRequest(w: World): fc.Arbitrary<HostileRequest> {
  return fc.oneof(
    { weight: 24, arbitrary: tokenDefects(w) },
    { weight: 26, arbitrary: bodyDefects(w) },
    { weight: 4, arbitrary: blobDefects(w) },
    { weight: 12, arbitrary: queryAndPathDefects(w) },
    { weight: 8, arbitrary: otherMissionIds(w) },
    { weight: 6, arbitrary: roleLacking(w) },
    { weight: 3, arbitrary: replays(w) },
    { weight: 6, arbitrary: creatorDefects(w) },
    { weight: 4, arbitrary: routing(w) },
    { weight: 7, arbitrary: upgradeDefects(w) },
  );
}
