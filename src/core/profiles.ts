import { z } from 'zod';
import { parseWith } from './validate.js';

/** The four roles a participant can hold. Their capabilities come from the profiles file. */
export const MissionRole = {
  LEAD: 'lead',
  WRITE: 'write',
  READ: 'read',
  AUDIT: 'audit',
} as const;
export type MissionRole = (typeof MissionRole)[keyof typeof MissionRole];
export const MISSION_ROLES: readonly MissionRole[] = ['lead', 'write', 'read', 'audit'];

export const CAPABILITIES = ['publish', 'checkpoint', 'handoff', 'read', 'audit', 'configure_isolation'] as const;
export type Capability = (typeof CAPABILITIES)[number];

export const IsolationMechanism = ['directory_workspace', 'mount_namespace', 'rootless_podman'] as const;

export const roleSchema = z.enum(['lead', 'write', 'read', 'audit']);
export const capabilitySchema = z.enum(CAPABILITIES);

export const isolationProfileSchema = z.object({
  name: z.string().min(1).max(128),
  label: z.string().min(1).max(256),
  level: z.coerce.number().int().min(1).max(3),
  mechanism: z.string().min(1).max(128),
  description: z.string().max(4096).default(''),
  supports_resume: z.boolean().default(true),
});
export type IsolationProfile = z.infer<typeof isolationProfileSchema>;

/** The seed's profiles file: role → capabilities, and the declared isolation profiles. */
export interface ProfilesConfig {
  roles: Record<MissionRole, Capability[]>;
  isolation_profiles: IsolationProfile[];
  [extra: string]: unknown;
}

export const DEFAULT_PROFILES: ProfilesConfig = {
  roles: {
    lead: ['publish', 'checkpoint', 'handoff', 'read', 'audit', 'configure_isolation'],
    write: ['publish', 'checkpoint', 'handoff', 'read'],
    read: ['read'],
    audit: ['read', 'audit'],
  },
  isolation_profiles: [
    {
      name: 'level1-directory',
      label: 'Level 1 — directory workspace',
      level: 1,
      mechanism: 'directory_workspace',
      description: 'Single mission cell in an isolated workspace directory.',
      supports_resume: true,
    },
    {
      name: 'level2-mount-namespace',
      label: 'Level 2 — mount namespace',
      level: 2,
      mechanism: 'mount_namespace',
      description: 'Mount-namespace isolation with explicit mission-cell mounts.',
      supports_resume: true,
    },
    {
      name: 'level3-rootless-podman',
      label: 'Level 3 — rootless Podman',
      level: 3,
      mechanism: 'rootless_podman',
      description: 'Rootless Podman cell for the strongest process and filesystem containment.',
      supports_resume: true,
    },
  ],
};

// A missing section falls back to the default, as the seed's loader does; extra top-level keys are kept.
const profilesSchema = z
  .object({
    roles: z.partialRecord(roleSchema, z.array(capabilitySchema)).optional(),
    isolation_profiles: z.array(isolationProfileSchema).optional(),
  })
  .passthrough();

export function defaultProfiles(): ProfilesConfig {
  return structuredClone(DEFAULT_PROFILES);
}

/**
 * Validates a profiles document (the seed's JSON shape). Missing `roles` or `isolation_profiles`
 * fall back to the defaults; a role missing from `roles` gets no capabilities.
 */
export function parseProfiles(input: unknown, source = 'profiles'): ProfilesConfig {
  const parsed = parseWith(profilesSchema, input, source);
  const defaults = defaultProfiles();
  const roles = parsed.roles
    ? ({ lead: [], write: [], read: [], audit: [], ...parsed.roles } as Record<MissionRole, Capability[]>)
    : defaults.roles;
  return {
    ...parsed,
    roles,
    isolation_profiles: parsed.isolation_profiles ?? defaults.isolation_profiles,
  };
}

/** Fast capability checks derived once from a profiles config. */
export class RolePolicy {
  private readonly capabilities: Map<string, ReadonlySet<Capability>>;

  constructor(readonly config: ProfilesConfig) {
    this.capabilities = new Map(Object.entries(config.roles).map(([role, caps]) => [role, new Set(caps)]));
  }

  can(role: MissionRole, capability: Capability): boolean {
    return this.capabilities.get(role)?.has(capability) ?? false;
  }

  capabilitiesOf(role: MissionRole): Capability[] {
    return [...(this.capabilities.get(role) ?? [])];
  }

  profileForLevel(level: number): IsolationProfile | undefined {
    return this.config.isolation_profiles.find((profile) => profile.level === level);
  }

  profileNamed(name: string): IsolationProfile | undefined {
    return this.config.isolation_profiles.find((profile) => profile.name === name);
  }
}
