// Operational parameter negotiation (RFC 7143 section 13). The initiator offers, we answer
// with the negotiated result; the result functions (min, max, OR, AND, list) are the RFC's.

export interface SessionParams {
  headerDigest: boolean;
  dataDigest: boolean;
  maxConnections: number;
  initialR2T: boolean;
  immediateData: boolean;
  maxBurstLength: number;
  firstBurstLength: number;
  defaultTime2Wait: number;
  defaultTime2Retain: number;
  maxOutstandingR2T: number;
  dataPduInOrder: boolean;
  dataSequenceInOrder: boolean;
  errorRecoveryLevel: number;
  /** What the initiator can receive: caps our Data-In / text segments. */
  initiatorMaxRecvDataSegmentLength: number;
  /** What we declared we can receive. */
  targetMaxRecvDataSegmentLength: number;
}

/** RFC defaults: what applies to a key neither side mentioned. */
export function defaultParams(targetMaxRecv: number): SessionParams {
  return {
    headerDigest: false,
    dataDigest: false,
    maxConnections: 1,
    initialR2T: true,
    immediateData: true,
    maxBurstLength: 262144,
    firstBurstLength: 65536,
    defaultTime2Wait: 2,
    defaultTime2Retain: 20,
    maxOutstandingR2T: 1,
    dataPduInOrder: true,
    dataSequenceInOrder: true,
    errorRecoveryLevel: 0,
    initiatorMaxRecvDataSegmentLength: 8192,
    targetMaxRecvDataSegmentLength: targetMaxRecv,
  };
}

/** What this target is willing to do; the negotiation never exceeds these. */
export interface TargetLimits {
  maxRecvDataSegmentLength: number;
  maxBurstLength: number;
  firstBurstLength: number;
  maxOutstandingR2T: number;
  /** Offer InitialR2T=No (unsolicited data) when the initiator also wants it. */
  allowUnsolicitedData: boolean;
  allowImmediateData: boolean;
  allowDigests: boolean;
}

export const DEFAULT_TARGET_LIMITS: TargetLimits = {
  maxRecvDataSegmentLength: 262144,
  maxBurstLength: 16776192,
  firstBurstLength: 16776192,
  maxOutstandingR2T: 16,
  allowUnsolicitedData: true,
  allowImmediateData: true,
  allowDigests: true,
};

/** Longest busy-poll window after a connection's input or output (see util/adaptive-poll.ts and docs/benchmarks.md). */
export const DEFAULT_BUSY_POLL_MICROSECONDS = 500;

export type Answer = string | null; // null: the key needs no answer (declarative)

export const NOT_UNDERSTOOD = 'NotUnderstood';
export const IRRELEVANT = 'Irrelevant';
export const REJECT = 'Reject';

const NUMERIC = /^(0|[1-9][0-9]{0,9}|0x[0-9a-fA-F]{1,8})$/;

function parseNumber(v: string): number | null {
  if (!NUMERIC.test(v)) return null;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : null;
}

function parseBool(v: string): boolean | null {
  if (v === 'Yes') return true;
  if (v === 'No') return false;
  return null;
}

function yesNo(b: boolean): string {
  return b ? 'Yes' : 'No';
}

function inRange(n: number | null, lo: number, hi: number): n is number {
  return n !== null && n >= lo && n <= hi;
}

/**
 * Negotiates one operational key and updates `p`. Returns the answer to send, null for a
 * declarative key that needs none, or undefined when the key is not an operational key
 * (the caller decides: security keys, names, or NotUnderstood).
 */
export function negotiateKey(key: string, value: string, p: SessionParams, limits: TargetLimits): Answer | undefined {
  switch (key) {
    case 'HeaderDigest':
    case 'DataDigest': {
      const offered = value.split(',');
      const supported = limits.allowDigests ? ['CRC32C', 'None'] : ['None'];
      const pick = offered.find((o) => supported.includes(o));
      if (!pick) return REJECT;
      if (key === 'HeaderDigest') p.headerDigest = pick === 'CRC32C';
      else p.dataDigest = pick === 'CRC32C';
      return pick;
    }
    case 'MaxConnections': {
      const n = parseNumber(value);
      if (!inRange(n, 1, 65535)) return REJECT;
      p.maxConnections = 1;
      return '1';
    }
    case 'InitialR2T': {
      const b = parseBool(value);
      if (b === null) return REJECT;
      p.initialR2T = b || !limits.allowUnsolicitedData;
      return yesNo(p.initialR2T);
    }
    case 'ImmediateData': {
      const b = parseBool(value);
      if (b === null) return REJECT;
      p.immediateData = b && limits.allowImmediateData;
      return yesNo(p.immediateData);
    }
    case 'DataPDUInOrder':
    case 'DataSequenceInOrder': {
      // OR function: answering Yes makes the result Yes, so data always arrives in order.
      if (parseBool(value) === null) return REJECT;
      return 'Yes';
    }
    case 'MaxBurstLength': {
      const n = parseNumber(value);
      if (!inRange(n, 512, 16777215)) return REJECT;
      p.maxBurstLength = Math.min(n, limits.maxBurstLength);
      p.firstBurstLength = Math.min(p.firstBurstLength, p.maxBurstLength);
      return String(p.maxBurstLength);
    }
    case 'FirstBurstLength': {
      const n = parseNumber(value);
      if (!inRange(n, 512, 16777215)) return REJECT;
      p.firstBurstLength = Math.min(n, limits.firstBurstLength, p.maxBurstLength);
      return String(Math.min(n, limits.firstBurstLength));
    }
    case 'MaxRecvDataSegmentLength': {
      const n = parseNumber(value);
      if (!inRange(n, 512, 16777215)) return REJECT;
      p.initiatorMaxRecvDataSegmentLength = n;
      return null; // declarative: we declare ours separately
    }
    case 'DefaultTime2Wait': {
      const n = parseNumber(value);
      if (!inRange(n, 0, 3600)) return REJECT;
      p.defaultTime2Wait = Math.max(n, 2);
      return String(p.defaultTime2Wait);
    }
    case 'DefaultTime2Retain': {
      const n = parseNumber(value);
      if (!inRange(n, 0, 3600)) return REJECT;
      p.defaultTime2Retain = Math.min(n, 20);
      return String(p.defaultTime2Retain);
    }
    case 'MaxOutstandingR2T': {
      const n = parseNumber(value);
      if (!inRange(n, 1, 65535)) return REJECT;
      p.maxOutstandingR2T = Math.min(n, limits.maxOutstandingR2T);
      return String(p.maxOutstandingR2T);
    }
    case 'ErrorRecoveryLevel': {
      const n = parseNumber(value);
      if (!inRange(n, 0, 2)) return REJECT;
      p.errorRecoveryLevel = 0;
      return '0';
    }
    case 'IFMarker':
    case 'OFMarker':
      // Markers were dropped by RFC 7143; AND with No keeps RFC 3720 initiators happy.
      return 'No';
    case 'IFMarkInt':
    case 'OFMarkInt':
      return IRRELEVANT;
    case 'iSCSIProtocolLevel': {
      const n = parseNumber(value);
      if (!inRange(n, 0, 31)) return REJECT;
      return String(Math.min(n, 1));
    }
    case 'TaskReporting':
      return 'RFC3720';
    case 'InitiatorAlias':
      return null;
    default:
      return undefined;
  }
}
