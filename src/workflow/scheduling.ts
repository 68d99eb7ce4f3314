// Whether a backend can take a volume: Cinder's CapabilitiesFilter (cinder/scheduler/filters/capabilities_filter.py)
// with its operators (extra_specs_ops.py), and the room its CapacityFilter asks for (capacity_filter.py). The
// capabilities are what the volume service reported in its last heartbeat (services.ts).

/** oslo's bool_from_string (not strict). */
function boolFromString(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  return ['1', 't', 'true', 'on', 'y', 'yes'].includes(String(v).trim().toLowerCase());
}

/** Python's float(): booleans are 0/1, strings must be numeric; NaN stands for the ValueError. */
function float(v: unknown): number {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(v)) return Number(v);
  return NaN;
}

const numeric = (f: (a: number, b: number) => boolean) => (x: unknown, y: string) => {
  const a = float(x);
  const b = float(y);
  return !Number.isNaN(a) && !Number.isNaN(b) && f(a, b);
};
const textual = (f: (a: string, b: string) => boolean) => (x: unknown, y: string) => typeof x === 'string' && f(x, y);

const OPERATORS: Record<string, (x: unknown, y: string) => boolean> = {
  '=': numeric((a, b) => a >= b),
  '<in>': (x, y) => (Array.isArray(x) ? x.includes(y) : typeof x === 'string' && x.includes(y)),
  '<is>': (x, y) => boolFromString(x) === boolFromString(y),
  '==': numeric((a, b) => a === b),
  '!=': numeric((a, b) => a !== b),
  '>=': numeric((a, b) => a >= b),
  '<=': numeric((a, b) => a <= b),
  's==': textual((a, b) => a === b),
  's!=': textual((a, b) => a !== b),
  's<': textual((a, b) => a < b),
  's<=': textual((a, b) => a <= b),
  's>': textual((a, b) => a > b),
  's>=': textual((a, b) => a >= b),
};

/** extra_specs_ops.match: does one reported value satisfy one requirement. */
export function specMatches(value: unknown, req: string | null): boolean {
  if (req === null) return value === null || value === undefined;
  const words = req.split(/\s+/).filter(Boolean);
  const op = words.shift();
  const method = op !== undefined ? OPERATORS[op] : undefined;
  if (op !== '<or>' && !method) return value === req;
  if (value === null || value === undefined) return false;
  if (op === '<or>') {
    // "<or> v1 <or> v2 <or> v3"
    while (words.length > 0) {
      if (words.shift() === value) return true;
      if (words.length === 0) break;
      words.shift();
    }
    return false;
  }
  return words.length > 0 && method!(value, words[0]);
}

/** _satisfies_extra_specs: every unscoped or `capabilities:` spec must match a reported capability. */
export function backendSatisfies(specs: Record<string, string>, capabilities: Readonly<Record<string, unknown>>): boolean {
  for (const [key, req] of Object.entries(specs)) {
    const scope = key.split(':');
    // Vendor-scoped specs (e.g. RESKEY:availability_zones) are for other filters and drivers.
    if (scope.length > 1 && scope[0] !== 'capabilities') continue;
    if (scope[0] === 'capabilities') scope.shift();
    let cap: unknown = capabilities;
    for (const part of scope) {
      if (cap === null || typeof cap !== 'object' || !Object.hasOwn(cap, part)) return false;
      cap = (cap as Record<string, unknown>)[part];
    }
    const values = Array.isArray(cap) ? cap : [cap];
    if (!values.some((v) => specMatches(v, req))) return false;
  }
  return true;
}

/**
 * CapacityFilter, without its provisioned-ratio half: the requested GiB must fit in the free space less the
 * reserved share, times max_over_subscription_ratio when the backend thin-provisions. A backend that reports no
 * positive total or free capacity (infinite, unknown, not measured) passes, as Cinder's does for infinite/unknown.
 */
export function hasRoomFor(capabilities: Readonly<Record<string, unknown>>, sizeGiB: number): boolean {
  const free = float(capabilities.free_capacity_gb);
  const total = float(capabilities.total_capacity_gb);
  if (!(free > 0) || !(total > 0)) return true;
  const reserved = (float(capabilities.reserved_percentage) || 0) / 100;
  const thin = capabilities.thin_provisioning_support === true;
  const ratio = thin ? Math.max(float(capabilities.max_over_subscription_ratio) || 1, 1) : 1;
  return sizeGiB <= (free - total * reserved) * ratio;
}

/**
 * CapacityWeigher's weight (cinder/scheduler/weights/capacity.py with utils.calculate_virtual_free_capacity): a
 * thin-provisioning backend offers its total times max_over_subscription_ratio less what is provisioned on it,
 * a thick one its free space; the reserved share comes off both. A backend that reports no positive capacity
 * (unknown, infinite) weighs lowest, as Cinder gives it -1. Higher wins, so volumes spread over the backends.
 */
export function virtualFreeGiB(capabilities: Readonly<Record<string, unknown>>, provisionedGiB: number): number {
  const free = float(capabilities.free_capacity_gb);
  const total = float(capabilities.total_capacity_gb);
  if (!(free > 0) || !(total > 0)) return -1;
  const reserved = Math.floor(total * ((float(capabilities.reserved_percentage) || 0) / 100));
  const ratio = float(capabilities.max_over_subscription_ratio);
  if (capabilities.thin_provisioning_support === true && ratio >= 1) return total * ratio - provisionedGiB - reserved;
  return free - reserved;
}
