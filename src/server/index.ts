/** The missionbus HTTP/WebSocket/SSE server: public names. */
export {
  startServer,
  isLoopback,
  DEFAULT_HOST,
  DEFAULT_PORT,
  DEFAULT_SOCKET_PATH,
  type ServerOptions,
  type MissionServer,
} from './server.js';
export { closeOnSignals, type CloseOnSignalsOptions } from './shutdown.js';
export { openApiDocument, type OpenApiInfo } from './openapi.js';
export { DEFAULT_PUBLISH_CHANNEL_OPTIONS, type PublishChannelOptions } from './publish-channel.js';
export { toHttpError, type HttpError } from './http-error.js';
export { hashToken, newToken, ADMIN_TOKEN_SETTING, type Identity } from './auth.js';
export { CLOSE_SLOW_CONSUMER, CLOSE_GOING_AWAY, DEFAULT_STREAM_OPTIONS, type StreamOptions, type StreamStats } from './stream.js';
export {
  httpSchemas,
  MAX_PAGE,
  DEFAULT_PAGE,
  type HttpSchemas,
  type ErrorBody,
  type MissionView,
  type CreatedMission,
  type AddedParticipant,
  type ImportedMissionReply,
  type EventPage,
  type AuditPage,
  type BlobRef,
  type Whoami,
  DEFAULT_PUBLISH_WINDOW,
  type PublishFrameId,
  type PublishFrameItem,
  type PublishHello,
  type PublishAck,
} from './wire.js';
