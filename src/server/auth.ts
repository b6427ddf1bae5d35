/**
 * Bearer tokens. A token is 32 random bytes, base64url (43 characters), shown once; the store keeps
 * only its sha256. A participant token names one participant of one mission; the admin token (needed
 * to create missions when the server listens beyond loopback) is kept hashed in the store's settings.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { PermissionDeniedError } from '../core/errors.js';
import type { Credential, EventStore } from '../store/contract.js';
import { unauthenticated } from './http-error.js';

export const ADMIN_TOKEN_SETTING = 'server.admin_token_sha256';

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export type Identity = { kind: 'participant'; missionId: string; participant: string } | { kind: 'admin' };

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A fresh token for `participant` and the credential (hash only) to store with the event that admits them. */
export function issueCredential(missionId: string, participant: string, now: string): { token: string; credential: Credential } {
  const token = newToken();
  return { token, credential: { token_hash: hashToken(token), mission_id: missionId, participant, created_at: now } };
}

/**
 * Creates the admin token on first use. Returns the token when this call created it (print it: it is
 * never shown again), or undefined when one already exists.
 */
export async function ensureAdminToken(store: EventStore): Promise<string | undefined> {
  const existing = await store.getSetting(ADMIN_TOKEN_SETTING);
  if (existing) return undefined;
  const token = newToken();
  const hash = hashToken(token);
  const stored = await store.putSettingIfAbsent(ADMIN_TOKEN_SETTING, hash);
  return stored === hash ? token : undefined;
}

/** The token of an `Authorization: Bearer …` header, or of `fallback` (a query parameter). */
export function bearerToken(headers: IncomingHttpHeaders, fallback?: string): string | undefined {
  const header = headers.authorization;
  if (header) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw unauthenticated("the Authorization header must be 'Bearer <token>'");
    return match[1];
  }
  return fallback;
}

/**
 * Resolves tokens to identities. Credentials are never revoked or reassigned, so resolved ones are
 * cached (bounded, oldest evicted first).
 */
export class Authenticator {
  private readonly cache = new Map<string, Identity>();
  private adminHash: Buffer | null | undefined;

  constructor(
    private readonly store: EventStore,
    private readonly cacheSize = 10_000,
  ) {}

  /** The identity of `token`; 401 when missing or unknown. */
  async identify(token: string | undefined): Promise<Identity> {
    if (token === undefined) throw unauthenticated("missing bearer token: send 'Authorization: Bearer <token>'");
    if (!TOKEN_SHAPE.test(token)) throw unauthenticated('token not recognized: a missionbus token is 43 base64url characters');
    const hash = hashToken(token);
    const cached = this.cache.get(hash);
    if (cached) return cached;
    let identity: Identity | undefined;
    if (await this.isAdmin(hash)) identity = { kind: 'admin' };
    else {
      const credential = await this.store.findCredential(hash);
      if (credential) identity = { kind: 'participant', missionId: credential.mission_id, participant: credential.participant };
    }
    if (!identity) throw unauthenticated('token not recognized: it was never issued by this server, or belongs to another store');
    if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(hash, identity);
    return identity;
  }

  /**
   * The participant `identity` acts as on mission `missionId`. A token of another mission is refused
   * with the same 403 whether or not `missionId` exists, and before anything looks it up, so the answer
   * reveals nothing about other missions.
   */
  participantOn(identity: Identity, missionId: string): string {
    if (identity.kind === 'admin') {
      throw new PermissionDeniedError(
        `the admin token only creates and imports missions; act on mission '${missionId}' with a participant token`,
        { mission_id: missionId, reason: 'admin_token' },
      );
    }
    if (identity.missionId !== missionId) {
      throw new PermissionDeniedError(
        `this token does not grant access to mission '${missionId}'; use a token issued for that mission`,
        { mission_id: missionId, reason: 'other_mission' },
      );
    }
    return identity.participant;
  }

  private async isAdmin(hash: string): Promise<boolean> {
    if (this.adminHash === undefined || this.adminHash === null) {
      const stored = await this.store.getSetting(ADMIN_TOKEN_SETTING);
      this.adminHash = stored ? Buffer.from(stored, 'hex') : null;
    }
    if (!this.adminHash) return false;
    const candidate = Buffer.from(hash, 'hex');
    return candidate.length === this.adminHash.length && timingSafeEqual(candidate, this.adminHash);
  }
}
