/**
 * Signal handling for a long-running server (the CLI's `serve`): the first SIGINT/SIGTERM closes the
 * server gracefully; a second one while closing exits at once.
 */
export interface CloseOnSignalsOptions {
  /** Default ['SIGINT', 'SIGTERM']. */
  signals?: NodeJS.Signals[];
  /** Call `process.exit` once closed (code 0, or 1 if closing failed). Default true. */
  exit?: boolean;
  /** Told when a signal starts the shutdown, and when closing fails. */
  onSignal?: (signal: NodeJS.Signals) => void;
  onError?: (error: unknown) => void;
}

/** Closes `server` on the first signal. Returns a function that removes the handlers. */
export function closeOnSignals(server: { close(): Promise<void> }, options: CloseOnSignalsOptions = {}): () => void {
  const signals = options.signals ?? ['SIGINT', 'SIGTERM'];
  const exit = options.exit ?? true;
  let closing = false;
  const handler = (signal: NodeJS.Signals) => {
    if (closing) {
      process.exit(1);
    }
    closing = true;
    options.onSignal?.(signal);
    server.close().then(
      () => {
        if (exit) process.exit(0);
      },
      (error: unknown) => {
        options.onError?.(error);
        if (exit) process.exit(1);
      },
    );
  };
  for (const signal of signals) process.on(signal, handler);
  return () => {
    for (const signal of signals) process.off(signal, handler);
  };
}
