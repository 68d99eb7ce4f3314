// Cinder's two persisted export columns, provider_location and provider_auth (docs/cinder-compatibility.md#provider-columns).
// Kept byte-compatible so that a database row written by embervol reads the same way in Cinder's tools.
import type { ChapCredentials } from '../util/chap.js';
import { formatHostPort } from '../util/ports.js';

export interface ProviderLocation {
  /** "ip:port" strings, IPv6 bracketed. */
  portals: string[];
  tid: string;
  iqn: string;
  lun: number;
}

/** Brackets a bare IPv6 address in an "ip:port" portal string; leaves other forms alone. */
export function normalizePortal(portal: string): string {
  if (portal.startsWith('[')) return portal;
  const idx = portal.lastIndexOf(':');
  if (idx > 0 && portal.indexOf(':') !== idx) {
    // "fd00::1:3260": the part after the last colon is the port.
    return formatHostPort(portal.slice(0, idx), Number(portal.slice(idx + 1)));
  }
  return portal;
}

/** "<ip1>:<port>[;<ip2>:<port>...],<tid> <iqn> <lun>" */
export function formatProviderLocation(loc: ProviderLocation): string {
  if (loc.portals.length === 0) throw new Error('provider_location needs at least one portal');
  return `${loc.portals.map(normalizePortal).join(';')},${loc.tid} ${loc.iqn} ${loc.lun}`;
}

/** Parses the way Cinder's _get_iscsi_properties does: a missing or non-integer LUN becomes 0. */
export function parseProviderLocation(text: string): ProviderLocation {
  const [portalPart = '', iqn, lunText] = text.trim().split(/\s+/);
  if (!iqn) throw new Error('provider_location has no target IQN');
  const comma = portalPart.indexOf(',');
  const portalList = comma >= 0 ? portalPart.slice(0, comma) : portalPart;
  const tid = comma >= 0 ? portalPart.slice(comma + 1) : '';
  const lun = lunText !== undefined && /^\d+$/.test(lunText) ? Number(lunText) : 0;
  return { portals: portalList.split(';').filter((p) => p.length > 0), tid, iqn, lun };
}

/** "CHAP <user> <password>" */
export function formatProviderAuth(chap: ChapCredentials): string {
  return `CHAP ${chap.username} ${chap.password}`;
}

/** Fields 1 and 2 of provider_auth, as Cinder reads them; null when absent or not CHAP. */
export function parseProviderAuth(text: string | null | undefined): ChapCredentials | null {
  if (!text) return null;
  const [method, username, password] = text.trim().split(/\s+/);
  if (method?.toUpperCase() !== 'CHAP' || !username || !password) return null;
  return { username, password };
}
