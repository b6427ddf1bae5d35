/** Reconnect timing shared by subscriptions and publishers. */
export interface ReconnectOptions {
  /** First reconnect delay; doubles per failed attempt, with jitter. Default 100 ms. */
  minDelayMs?: number;
  /** Longest reconnect delay. Default 5,000 ms. */
  maxDelayMs?: number;
}

/** The delay before reconnect attempt `attempt` (0-based): exponential, capped, with "equal jitter". */
export function reconnectDelay(attempt: number, minDelayMs: number, maxDelayMs: number): number {
  const base = Math.min(maxDelayMs, minDelayMs * 2 ** attempt);
  return Math.round(base / 2 + (Math.random() * base) / 2);
}
