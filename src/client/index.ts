/** The missionbus client SDK: public names. */
export {
  MissionClient,
  type MissionClientOptions,
  type CreateMissionRequest,
  type CheckpointRequest,
  type CellStartedRequest,
  type CellExitedRequest,
  type PublishResult,
} from './client.js';
export { MissionPublisher, type PublisherOptions, type PublisherStatus, type PublishOptions } from './publisher.js';
export { MissionSubscription, type SubscribeOptions, type SubscriptionStatus } from './subscription.js';
export { parseEndpoint, type Endpoint } from './transport.js';
export { reconnectDelay, type ReconnectOptions } from './backoff.js';
export type {
  MissionView,
  CreatedMission,
  AddedParticipant,
  ImportedMissionReply,
  EventPage,
  AuditPage,
  BlobRef,
  Whoami,
} from '../server/wire.js';
