/**
 * WebSocket frames by hand (RFC 6455 §5.2), valid and not, and a raw client that completes a handshake and
 * then watches what the server does with them.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

export interface FrameSpec {
  fin?: boolean;
  /** RSV1..3 as a 3-bit number. */
  rsv?: number;
  opcode: number;
  payload: Buffer;
  /** Client frames must be masked; default true. */
  masked?: boolean;
  /** A length to declare instead of the payload's. */
  declaredLength?: bigint;
}

export const OPCODE = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

export function frame(spec: FrameSpec): Buffer {
  const masked = spec.masked ?? true;
  const length = spec.declaredLength ?? BigInt(spec.payload.length);
  const head: number[] = [((spec.fin ?? true) ? 0x80 : 0) | ((spec.rsv ?? 0) << 4) | spec.opcode];
  let extended = Buffer.alloc(0);
  if (length < 126n) head.push((masked ? 0x80 : 0) | Number(length));
  else if (length < 65536n) {
    head.push((masked ? 0x80 : 0) | 126);
    extended = Buffer.alloc(2);
    extended.writeUInt16BE(Number(length));
  } else {
    head.push((masked ? 0x80 : 0) | 127);
    extended = Buffer.alloc(8);
    extended.writeBigUInt64BE(length);
  }
  if (!masked) return Buffer.concat([Buffer.from(head), extended, spec.payload]);
  const key = randomBytes(4);
  const body = Buffer.from(spec.payload);
  for (let i = 0; i < body.length; i++) body[i]! ^= key[i % 4]!;
  return Buffer.concat([Buffer.from(head), extended, key, body]);
}

export const textFrame = (text: string | Buffer) => frame({ opcode: OPCODE.text, payload: Buffer.isBuffer(text) ? text : Buffer.from(text) });

/** A close frame's payload: the code, then the reason. */
export function closePayload(code: number, reason = ''): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code);
  payload.write(reason, 2);
  return payload;
}

export interface Observed {
  /** The code of the server's close frame, if it sent one. */
  closeCode?: number;
  /** Whether the TCP connection was closed (by the server, or after its close frame). */
  closed: boolean;
  /** Text frames the server sent (after the handshake). */
  texts: string[];
  /** Frames the server sent after its close frame (RFC 6455 §5.5.1 forbids any). */
  afterClose: number;
}

/** One raw WebSocket connection: the handshake, then whatever bytes a test writes. */
export class RawWebSocket {
  private buffer: Buffer = Buffer.alloc(0);
  private readonly observed: Observed = { closed: false, texts: [], afterClose: 0 };
  private waiters: Array<() => void> = [];

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.parse();
      this.wake();
    });
    socket.on('close', () => {
      this.observed.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  /** Connects and upgrades; rejects unless the server answers 101. */
  static async open(url: string, path: string, token: string): Promise<RawWebSocket> {
    const { hostname, port } = new URL(url);
    const socket = connect({ host: hostname, port: Number(port) });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.write(
      [
        `GET ${path} HTTP/1.1`,
        `Host: ${hostname}:${port}`,
        'Upgrade: websocket',
        'Connection: Upgrade',
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
        'Sec-WebSocket-Version: 13',
        `Authorization: Bearer ${token}`,
        '',
        '',
      ].join('\r\n'),
    );
    const head = await new Promise<{ status: string; rest: Buffer }>((resolve, reject) => {
      let text = Buffer.alloc(0);
      const timer = setTimeout(() => reject(new Error('no handshake answer within 5 s')), 5000);
      const onData = (chunk: Buffer) => {
        text = Buffer.concat([text, chunk]);
        const end = text.indexOf('\r\n\r\n');
        if (end < 0) return;
        clearTimeout(timer);
        socket.off('data', onData);
        resolve({ status: text.subarray(0, end).toString('latin1').split('\r\n')[0]!, rest: text.subarray(end + 4) });
      };
      socket.on('data', onData);
    });
    if (!/^HTTP\/1\.1 101/.test(head.status)) {
      socket.destroy();
      throw new Error(`handshake refused: ${head.status}`);
    }
    const ws = new RawWebSocket(socket);
    if (head.rest.length > 0) socket.emit('data', head.rest);
    return ws;
  }

  write(bytes: Buffer, options: { end?: boolean } = {}): void {
    if (options.end) this.socket.end(bytes);
    else this.socket.write(bytes);
  }

  /** Waits until `done(observed)` holds or `timeoutMs` passes; returns what was observed. */
  async until(done: (observed: Observed) => boolean, timeoutMs: number): Promise<Observed> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.observed) && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.observed;
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Stops reading (the kernel buffers fill, then the server's) or starts again. */
  reading(on: boolean): void {
    if (on) this.socket.resume();
    else this.socket.pause();
  }

  private wake(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Server frames are unmasked; this reads complete ones off the buffer. */
  private parse(): void {
    for (;;) {
      if (this.buffer.length < 2) return;
      const opcode = this.buffer[0]! & 0x0f;
      let length = this.buffer[1]! & 0x7f;
      let at = 2;
      if (length === 126) {
        if (this.buffer.length < 4) return;
        length = this.buffer.readUInt16BE(2);
        at = 4;
      } else if (length === 127) {
        if (this.buffer.length < 10) return;
        length = Number(this.buffer.readBigUInt64BE(2));
        at = 10;
      }
      if (this.buffer.length < at + length) return;
      const payload = this.buffer.subarray(at, at + length);
      this.buffer = this.buffer.subarray(at + length);
      if (this.observed.closeCode !== undefined) this.observed.afterClose++;
      if (opcode === OPCODE.text) this.observed.texts.push(payload.toString('utf8'));
      if (opcode === OPCODE.close && this.observed.closeCode === undefined) this.observed.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
    }
  }
}
