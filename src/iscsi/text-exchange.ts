// Text requests in full feature phase: request text gathered over PDUs with
// C=1, answers (SendTargets, MaxRecvDataSegmentLength) sent in segments the initiator pulls one by one.

import type { LoginNegotiator } from './login.js';
import { NOT_UNDERSTOOD, REJECT } from './params.js';
import { EMPTY_SEGMENT, getU32, itt as ittOf, RejectReason, RESERVED_TAG, type Pdu } from './pdu.js';
import { TextFlags, textResponse } from './responses.js';
import type { Session } from './session.js';
import { encodeKeyValues, parseKeyValues, splitSegments, type KeyValues } from './text.js';

const MAX_TEXT_REQUEST = 65536;

export interface TextConnection {
  send(pdu: Pdu): void;
  sendReject(reason: number, rejected: Buffer): void;
  /** IQNs this initiator may see in SendTargets. */
  visibleTargets(): string[];
  /** "address:port,tpgt" entries to advertise for this connection. */
  portals(): string[];
}

export class TextExchange {
  private request: { itt: number; parts: Buffer[]; bytes: number } | null = null;
  private continuation: { ttt: number; segments: Buffer[] } | null = null;

  constructor(
    private readonly conn: TextConnection,
    private readonly session: Session,
    private readonly login: LoginNegotiator,
  ) {}

  onRequest(pdu: Pdu): void {
    const { bhs } = pdu;
    const tag = ittOf(bhs);
    const ttt = getU32(bhs, 20);
    if (ttt !== RESERVED_TAG) {
      if (this.continuation && this.continuation.ttt === ttt) {
        this.sendSegment(bhs);
        return;
      }
      this.conn.sendReject(RejectReason.INVALID_PDU_FIELD, bhs);
      return;
    }
    this.continuation = null;
    if (!this.request || this.request.itt !== tag) this.request = { itt: tag, parts: [], bytes: 0 };
    this.request.parts.push(Buffer.from(pdu.data));
    this.request.bytes += pdu.data.length;
    if (this.request.bytes > MAX_TEXT_REQUEST) {
      this.request = null;
      this.conn.sendReject(RejectReason.OUT_OF_RESOURCES, bhs);
      return;
    }
    if ((bhs[1] & 0x40) !== 0) {
      // More request text follows: answer with an empty response that keeps the exchange open.
      this.conn.send(textResponse(this.session, bhs, TextFlags.NONE, this.session.newTargetTag(), EMPTY_SEGMENT));
      return;
    }
    const text = Buffer.concat(this.request.parts);
    this.request = null;
    let keys: KeyValues;
    try {
      keys = parseKeyValues(text);
    } catch {
      this.conn.sendReject(RejectReason.PROTOCOL_ERROR, bhs);
      return;
    }
    const answers: KeyValues = [];
    for (const [k, v] of keys) {
      if (k === 'SendTargets') answers.push(...this.sendTargets(v));
      else if (k === 'MaxRecvDataSegmentLength') {
        const n = Number(v);
        if (/^[0-9]+$/.test(v) && n >= 512 && n <= 16777215) this.login.params.initiatorMaxRecvDataSegmentLength = n;
        else answers.push([k, REJECT]);
      } else answers.push([k, NOT_UNDERSTOOD]);
    }
    const segments = splitSegments(encodeKeyValues(answers), this.login.params.initiatorMaxRecvDataSegmentLength);
    this.continuation = { ttt: this.session.newTargetTag(), segments };
    this.sendSegment(bhs);
  }

  private sendSegment(req: Buffer): void {
    const cont = this.continuation!;
    const segment = cont.segments.shift() ?? EMPTY_SEGMENT;
    const more = cont.segments.length > 0;
    if (!more) this.continuation = null;
    this.conn.send(textResponse(this.session, req, more ? TextFlags.CONTINUE : TextFlags.FINAL, more ? cont.ttt : RESERVED_TAG, segment));
  }

  private sendTargets(value: string): KeyValues {
    let names: string[];
    const visible = this.conn.visibleTargets();
    const own = this.login.target?.iqn;
    if (value === 'All') {
      // A normal session may only learn about its own target (RFC 7143 section 13.22 / appendix C).
      names = this.login.sessionType === 'Discovery' ? visible : visible.filter((n) => n === own);
    } else if (value === '') {
      names = own !== undefined ? [own] : [];
    } else names = visible.filter((n) => n === value);
    const portals = this.conn.portals();
    const out: KeyValues = [];
    for (const n of names) {
      out.push(['TargetName', n]);
      for (const p of portals) out.push(['TargetAddress', p]);
    }
    return out;
  }
}
