/** A raw publish-channel connection for the publish-channel tests: frames the SDK would never send. */
import { WebSocket, type RawData } from 'ws';
import type { MissionServer, PublishAck, PublishHello } from '../../src/server/index.js';
import { waitFor } from './helpers.js';

export interface RawChannel {
  ws: WebSocket;
  hello: PublishHello['hello'];
  acks: PublishAck[];
  /** Every server message, as received. */
  frames: unknown[];
  closed: Promise<{ code: number; reason: string }>;
  send(data: string | Buffer, binary?: boolean): void;
  /** Waits until at least `count` acks arrived. */
  acksAtLeast(count: number, timeoutMs?: number): Promise<PublishAck[]>;
}

/** Opens the publish channel of `missionId` as `token`; resolves after the server's hello. */
export function openRaw(
  server: Pick<MissionServer, 'url' | 'socketPath'>,
  token: string,
  missionId: string,
  options: { via?: 'tcp' | 'unix' } = {},
): Promise<RawChannel> {
  const path = `/v1/missions/${encodeURIComponent(missionId)}/publish`;
  const url = options.via === 'unix' || !server.url ? `ws+unix://${server.socketPath}:${path}` : `${server.url.replace(/^http/, 'ws')}${path}`;
  const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` }, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  const acks: PublishAck[] = [];
  const frames: unknown[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return new Promise((resolve, reject) => {
    ws.on('error', reject);
    ws.on('unexpected-response', (_req, res) => reject(new Error(`upgrade refused with ${res.statusCode}`)));
    ws.on('message', (data: RawData) => {
      const parsed = JSON.parse(data.toString()) as unknown;
      frames.push(parsed);
      if (Array.isArray(parsed)) {
        acks.push(...(parsed as PublishAck[]));
        return;
      }
      const channel: RawChannel = {
        ws,
        hello: (parsed as PublishHello).hello,
        acks,
        frames,
        closed,
        send: (frame, binary = false) => ws.send(frame, { binary }),
        acksAtLeast: async (count, timeoutMs = 10_000) => {
          await waitFor(() => acks.length >= count, timeoutMs, `${count} acks (have ${acks.length})`);
          return acks;
        },
      };
      resolve(channel);
    });
  });
}
