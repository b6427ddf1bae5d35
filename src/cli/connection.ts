/**
 * Where a command connects and as whom: flags first, then MISSIONBUS_URL, MISSIONBUS_TOKEN and
 * MISSIONBUS_MISSION. Without a URL, the local bus's Unix socket if it exists, else the default TCP port.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { MissionClient } from '../client/client.js';
import { InvalidInputError } from '../core/errors.js';
import { DEFAULT_HOST, DEFAULT_PORT, DEFAULT_SOCKET_PATH } from '../server/server.js';

export interface ConnectionFlags {
  url?: string;
  token?: string;
  mission?: string;
}

export function addConnectionFlags(command: Command): Command {
  return command
    .option('--url <url>', 'bus address: http://host:port or unix:/path/to/socket (env MISSIONBUS_URL)')
    .option('--token <token>', 'your participant bearer token (env MISSIONBUS_TOKEN)')
    .option('--mission <id>', 'mission id (env MISSIONBUS_MISSION)');
}

export function defaultUrl(): string {
  const socket = resolve(DEFAULT_SOCKET_PATH);
  return existsSync(socket) ? `unix:${socket}` : `http://${DEFAULT_HOST}:${DEFAULT_PORT}`;
}

export function connect(flags: ConnectionFlags, needs: { token?: boolean; mission?: boolean } = {}): MissionClient {
  const url = flags.url ?? process.env.MISSIONBUS_URL ?? defaultUrl();
  const token = flags.token ?? process.env.MISSIONBUS_TOKEN;
  const missionId = flags.mission ?? process.env.MISSIONBUS_MISSION;
  if (needs.token && !token) {
    throw new InvalidInputError('no token: pass --token or set MISSIONBUS_TOKEN (a lead gets one from `missionbus mission create`)');
  }
  if (needs.mission && !missionId) throw new InvalidInputError('no mission: pass --mission or set MISSIONBUS_MISSION');
  return new MissionClient({ url, ...(token ? { token } : {}), ...(missionId ? { missionId } : {}) });
}

