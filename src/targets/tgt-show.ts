// Parsers for `tgtadm --op show` output. The format is indentation-structured text meant for humans,
// so these read only the fields we rely on and ignore everything else.

export interface TgtLun {
  lun: number;
  type: string;
  backingStorePath: string | null;
  scsiId: string | null;
  scsiSn: string | null;
  sizeText: string | null;
}

export interface TgtNexus {
  nexus: number;
  initiator: string;
  connections: number[];
}

export interface TgtTargetInfo {
  tid: number;
  iqn: string;
  state: string | null;
  nexuses: TgtNexus[];
  luns: TgtLun[];
  accounts: string[];
  acl: string[];
}

type Section = 'system' | 'nexus' | 'lun' | 'account' | 'acl' | null;

/** `tgtadm --lld iscsi --op show --mode target` */
export function parseTargetShow(text: string): TgtTargetInfo[] {
  const targets: TgtTargetInfo[] = [];
  let cur: TgtTargetInfo | null = null;
  let section: Section = null;
  let lun: TgtLun | null = null;
  let nexus: TgtNexus | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const t = /^Target (\d+): (\S+)$/.exec(raw);
    if (t) {
      cur = { tid: Number(t[1]), iqn: t[2]!, state: null, nexuses: [], luns: [], accounts: [], acl: [] };
      targets.push(cur);
      section = null;
      continue;
    }
    if (!cur) continue;
    switch (line) {
      case 'System information:': section = 'system'; continue;
      case 'I_T nexus information:': section = 'nexus'; continue;
      case 'LUN information:': section = 'lun'; continue;
      case 'Account information:': section = 'account'; continue;
      case 'ACL information:': section = 'acl'; continue;
    }
    switch (section) {
      case 'system': {
        const m = /^State: (.*)$/.exec(line);
        if (m) cur.state = m[1]!;
        break;
      }
      case 'nexus': {
        let m = /^I_T nexus: (\d+)$/.exec(line);
        if (m) {
          nexus = { nexus: Number(m[1]), initiator: '', connections: [] };
          cur.nexuses.push(nexus);
          break;
        }
        m = /^Initiator: (\S+)/.exec(line);
        if (m && nexus) nexus.initiator = m[1]!;
        m = /^Connection: (\d+)$/.exec(line);
        if (m && nexus) nexus.connections.push(Number(m[1]));
        break;
      }
      case 'lun': {
        const m = /^LUN: (\d+)$/.exec(line);
        if (m) {
          lun = { lun: Number(m[1]), type: '', backingStorePath: null, scsiId: null, scsiSn: null, sizeText: null };
          cur.luns.push(lun);
          break;
        }
        if (!lun) break;
        const kv = /^([^:]+): ?(.*)$/.exec(line);
        if (!kv) break;
        const [, key, value = ''] = kv;
        if (key === 'Type') lun.type = value;
        else if (key === 'Backing store path') lun.backingStorePath = value === 'None' ? null : value;
        else if (key === 'SCSI ID') lun.scsiId = value;
        else if (key === 'SCSI SN') lun.scsiSn = value;
        else if (key === 'Size') lun.sizeText = value;
        break;
      }
      case 'account':
        // Outgoing accounts are printed as "name (outgoing)"; we never make those.
        cur.accounts.push(line.replace(/ \(outgoing\)$/, ''));
        break;
      case 'acl':
        cur.acl.push(line);
        break;
    }
  }
  return targets;
}

export interface TgtConnection {
  sid: number;
  cid: number;
  initiator: string;
  address: string | null;
}

/** `tgtadm --lld iscsi --op show --mode conn --tid N` */
export function parseConnShow(text: string): TgtConnection[] {
  const out: TgtConnection[] = [];
  let sid: number | null = null;
  let conn: TgtConnection | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    let m = /^Session: (\d+)$/.exec(line);
    if (m) {
      sid = Number(m[1]);
      continue;
    }
    m = /^Connection: (\d+)$/.exec(line);
    if (m && sid !== null) {
      conn = { sid, cid: Number(m[1]), initiator: '', address: null };
      out.push(conn);
      continue;
    }
    m = /^Initiator: (\S+)/.exec(line);
    if (m && conn) conn.initiator = m[1]!;
    m = /^IP Address: (\S+)/.exec(line);
    if (m && conn) conn.address = m[1]!;
  }
  return out;
}
