/** Size bounds on everything a caller can send. Each can be overridden per bus/server. */
export interface Limits {
  /** Participant names. Default 128 characters. */
  maxNameLength: number;
  /** Message topics. Default 256 characters. */
  maxTopicLength: number;
  /** Client-chosen ids (message_id). Default 128 characters. */
  maxIdLength: number;
  /** Free text: notes, summaries, titles. Default 16 KiB. */
  maxTextLength: number;
  /** A message payload, serialized as JSON. Default 256 KiB. */
  maxPayloadBytes: number;
  /** A checkpoint state, serialized as JSON. Default 1 MiB. */
  maxStateBytes: number;
  /** Nesting depth of payloads, states and metadata. Default 64. */
  maxDepth: number;
  /** Artifact paths per checkpoint. Default 10,000. */
  maxArtifacts: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxNameLength: 128,
  maxTopicLength: 256,
  maxIdLength: 128,
  maxTextLength: 16 * 1024,
  maxPayloadBytes: 256 * 1024,
  maxStateBytes: 1024 * 1024,
  maxDepth: 64,
  maxArtifacts: 10_000,
};

export function resolveLimits(overrides: Partial<Limits> = {}): Limits {
  return { ...DEFAULT_LIMITS, ...overrides };
}
