/**
 * The OpenAPI 3.1 document, generated from the route table and the very zod schemas the server
 * validates with (`z.toJSONSchema`), so what is documented is what is enforced.
 */
import { z } from 'zod';
import type { Route } from './router.js';
import { DEFAULT_PUBLISH_WINDOW, publishChannelSchemas } from './wire.js';

type JsonSchema = Record<string, unknown>;

function jsonSchema(schema: z.ZodType): JsonSchema {
  const converted = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'any',
    override: ({ zodSchema, jsonSchema: out }) => {
      // Payloads, states and metadata are checked by a custom validator: a JSON object of bounded size and depth.
      if ((zodSchema as unknown as { _zod: { def: { type: string } } })._zod.def.type === 'custom') out.type = 'object';
    },
  }) as JsonSchema;
  delete converted.$schema;
  return converted;
}

function parameters(schema: z.ZodType | undefined, location: 'path' | 'query'): JsonSchema[] {
  if (!schema) return [];
  const object = jsonSchema(schema) as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(object.properties ?? {}).map(([name, property]) => ({
    name,
    in: location,
    required: location === 'path' || (object.required ?? []).includes(name),
    schema: property,
  }));
}

export interface OpenApiInfo {
  title?: string;
  version?: string;
  /** Server URLs to list (e.g. the TCP URL). */
  servers?: string[];
}

export function openApiDocument(routes: readonly Route[], info: OpenApiInfo = {}): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of routes) {
    const operation: JsonSchema = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.needs ? { 'x-missionbus-needs': route.needs } : {}),
      parameters: [...parameters(route.params, 'path'), ...parameters(route.query, 'query')],
      responses: Object.fromEntries(
        Object.entries(route.responses).map(([status, spec]) => [
          status,
          {
            description: spec.description,
            ...(spec.schema
              ? { content: { [spec.contentType ?? 'application/json']: { schema: jsonSchema(spec.schema) } } }
              : spec.contentType
                ? { content: { [spec.contentType]: {} } }
                : {}),
          },
        ]),
      ),
    };
    if (route.operationId === 'publishWebSocket') operation['x-missionbus-websocket'] = publishChannelDoc(routes);
    if (route.auth !== 'none') operation.security = route.auth === 'creator' ? [{}, { bearer: [] }] : [{ bearer: [] }];
    if (route.body?.kind === 'json') {
      operation.requestBody = {
        required: !route.body.optional,
        content: { 'application/json': { schema: jsonSchema(route.body.schema) } },
      };
    } else if (route.body?.kind === 'bytes') {
      operation.requestBody = { required: true, content: { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } } };
    }
    (paths[route.path] ??= {})[route.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: info.title ?? 'missionbus',
      version: info.version ?? '1',
      description:
        'A durable, ordered mission bus. Every request acts as the participant its bearer token was issued to; ' +
        'the sender is never taken from the body. Errors are {"error":{"code","message","details"}} with code ' +
        'permission_denied (401/403), not_found (404), conflict (409), invalid_input (400/405/413/415/426) or unavailable (503).',
    },
    ...(info.servers?.length ? { servers: info.servers.map((url) => ({ url })) } : {}),
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: '43-character base64url token, shown once when issued' } },
    },
    paths,
  };
}

/**
 * WebSocket messages are beyond OpenAPI: the publish channel's frames are described in an extension,
 * their schemas generated from the REST publish body the channel validates with.
 */
function publishChannelDoc(routes: readonly Route[]): JsonSchema {
  const body = routes.find((route) => route.operationId === 'publish')?.body;
  if (body?.kind !== 'json' || !(body.schema instanceof z.ZodObject)) return {};
  const frames = publishChannelSchemas(body.schema);
  return {
    description:
      'Client to server: a text message holding one publish or a non-empty array of them; each is the POST .../messages body plus `id`, ' +
      'echoed in its ack. Give every publish a message_id so that resending it after a reconnect is idempotent. Server to client: first a ' +
      '`hello` object (the window and frame limit to keep), then JSON arrays of acks, each sent only after its event is durable. ' +
      `At most \`window\` (default ${DEFAULT_PUBLISH_WINDOW}) publishes may be unacknowledged; the server stops reading at the window and ` +
      'refuses publishes beyond it with unavailable/window_full. An error ack with id null answers input it could not attribute to a publish. ' +
      'An error ack with details.reason shutting_down means: send it again after reconnecting. Close codes: 1001 shutting down (after acking ' +
      'everything taken), 1009 frame larger than max_frame_bytes.',
    clientMessage: jsonSchema(frames.clientFrame),
    serverMessages: { hello: jsonSchema(frames.hello), acks: jsonSchema(frames.acks) },
  };
}
