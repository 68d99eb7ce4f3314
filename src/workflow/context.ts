// What the workflow knows about a caller: who, in which project, with which roles, at which microversion.
// The HTTP layer builds it once auth and microversion negotiation ran; the workflow applies policy with it
// and never sees fastify.

export interface Microversion {
  major: 3;
  minor: number;
}

export interface RequestContext {
  requestId: string;
  userId: string;
  projectId: string;
  roles: string[];
  isAdmin: boolean;
  /** True when the request carries a valid service token (CVE-2023-2088 rule). */
  isService: boolean;
  version: Microversion;
}

export const MIN_VERSION: Microversion = { major: 3, minor: 0 };
/** Highest microversion embervol negotiates; raise it only when the behaviour of the new version exists. */
export const MAX_VERSION: Microversion = { major: 3, minor: 70 };

export function atLeast(v: Microversion, minor: number): boolean {
  return v.minor >= minor;
}
