import type { WebSocket } from 'ws';

/**
 * Pings `ws` every `intervalMs` and terminates it when the previous ping got no pong: a peer that
 * vanished without closing (a dead network, a killed process) is noticed and its resources freed.
 * Stops by itself when the socket closes.
 */
export function keepAlive(ws: WebSocket, intervalMs: number): void {
  let alive = true;
  ws.on('pong', () => {
    alive = true;
  });
  const timer = setInterval(() => {
    if (!alive) {
      ws.terminate();
      return;
    }
    alive = false;
    ws.ping();
  }, intervalMs);
  timer.unref();
  ws.on('close', () => clearInterval(timer));
}
