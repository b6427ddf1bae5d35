import type { WebSocket } from 'ws';
import { wireError } from './transport.js';

/** HTTP statuses on a WebSocket upgrade that retrying cannot fix. */
const FATAL_STATUS = new Set([400, 401, 403, 404, 405, 426]);

/**
 * Reads the server's answer when it refuses a WebSocket upgrade and turns it into the core's typed
 * error. `fatal()` returns that error when retrying cannot help (a bad token, an unknown mission), so a
 * reconnecting client can stop instead of retrying forever.
 */
export function watchRefusedUpgrade(ws: WebSocket): { fatal(): unknown } {
  let fatal: unknown;
  ws.on('unexpected-response', (_req, res) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.on('end', () => {
      const error = wireError({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) });
      if (FATAL_STATUS.has(res.statusCode ?? 0)) fatal = error;
      ws.terminate();
    });
    res.on('error', () => ws.terminate());
  });
  return { fatal: () => fatal };
}
