/**
 * HTTP/1.1 over one raw TCP connection, with pipelining: requests are written as soon as they are made,
 * without waiting for earlier answers, and answers are matched to requests in order. Node's own client
 * never pipelines; the crash tests need many publishes in flight per client, and the fuzz tests need
 * to send bytes no well-behaved client would (truncated heads, lying Content-Length).
 *
 * When the connection closes, every request still waiting for its answer is rejected with
 * {@link ConnectionClosedError}: the caller knows exactly which requests were not answered.
 */
import { connect, type Socket } from 'node:net';

export interface WireReply {
  status: number;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  body: Buffer;
}

export class ConnectionClosedError extends Error {
  override readonly name = 'ConnectionClosedError';
}

interface Waiter {
  resolve: (reply: WireReply) => void;
  reject: (error: Error) => void;
}

export class HttpConnection {
  private buffer: Buffer = Buffer.alloc(0);
  private readonly waiting: Waiter[] = [];
  private closedError: Error | undefined;
  readonly host: string;

  private constructor(
    private readonly socket: Socket,
    host: string,
  ) {
    this.host = host;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => this.onClose(error));
    socket.on('close', () => this.onClose(new ConnectionClosedError('the connection closed before the answer arrived')));
  }

  static open(url: string, timeoutMs = 5000): Promise<HttpConnection> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = connect({ host: hostname, port: Number(port) });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`could not connect to ${url} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new HttpConnection(socket, `${hostname}:${port}`));
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  /** Requests written and not answered yet. */
  get outstanding(): number {
    return this.waiting.length;
  }

  /** Sends one well-formed request (Host and Content-Length are added). */
  request(method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<WireReply> {
    const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body);
    const lines = [`${method} ${path} HTTP/1.1`];
    if (!Object.keys(headers).some((name) => name.toLowerCase() === 'host')) lines.push(`Host: ${this.host}`);
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    if (payload) lines.push(`Content-Length: ${payload.length}`);
    const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
    return this.send(payload ? Buffer.concat([head, payload]) : head);
  }

  /** Writes `bytes` as they are and waits for one answer. `end` half-closes the connection afterwards. */
  send(bytes: Buffer, options: { end?: boolean } = {}): Promise<WireReply> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      if (options.end) this.socket.end(bytes);
      else this.socket.write(bytes);
    });
  }

  close(): void {
    this.onClose(new ConnectionClosedError('the connection was closed by this side'));
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const parsed = parseResponse(this.buffer);
      if (!parsed) return;
      this.buffer = this.buffer.subarray(parsed.consumed);
      const waiter = this.waiting.shift();
      if (!waiter) {
        this.onClose(new Error(`an answer arrived that no request was waiting for (status ${parsed.reply.status})`));
        this.socket.destroy();
        return;
      }
      waiter.resolve(parsed.reply);
    }
  }

  private onClose(error: Error): void {
    if (!this.closedError) this.closedError = error;
    for (const waiter of this.waiting.splice(0)) waiter.reject(this.closedError);
  }
}

/** Parses one complete response at the start of `buffer`, or returns undefined when more bytes are needed. */
function parseResponse(buffer: Buffer): { reply: WireReply; consumed: number } | undefined {
  const headEnd = buffer.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const [statusLine, ...headerLines] = buffer.subarray(0, headEnd).toString('latin1').split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '');
  if (!match) throw new Error(`not an HTTP response: ${JSON.stringify(statusLine)}`);
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const status = Number(match[1]);
  const bodyStart = headEnd + 4;
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
    const chunks: Buffer[] = [];
    let at = bodyStart;
    for (;;) {
      const lineEnd = buffer.indexOf('\r\n', at);
      if (lineEnd < 0) return undefined;
      const size = parseInt(buffer.subarray(at, lineEnd).toString('latin1'), 16);
      if (buffer.length < lineEnd + 2 + size + 2) return undefined;
      if (size === 0) return { reply: { status, headers, body: Buffer.concat(chunks) }, consumed: lineEnd + 4 };
      chunks.push(buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  const length = Number(headers['content-length'] ?? 0);
  if (buffer.length < bodyStart + length) return undefined;
  return { reply: { status, headers, body: Buffer.from(buffer.subarray(bodyStart, bodyStart + length)) }, consumed: bodyStart + length };
}
