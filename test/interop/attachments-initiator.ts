// Helpers for the attachment interop tests: turn a flattened connection_info into initiator addresses,
// and hold a long-lived iSCSI session (the raw test initiator) so a test can see a session survive or be
// dropped while other hosts attach and detach. libiscsi and qemu log in and out per command, so they
// cannot show that.
import { Opcode } from '../../src/iscsi/pdu.js';
import { splitPortal, type FlatConnectionInfo } from '../support/libiscsi.js';
import { RawInitiator, read10, write10, TEST_UNIT_READY } from '../iscsi/raw-initiator.js';

export { qemuTarget } from '../support/qemu.js';

export interface CommandResult {
  /** SCSI status (0 GOOD, 2 CHECK CONDITION), or null when the connection closed. */
  status: number | null;
  data: Buffer;
  /** Sense key of a CHECK CONDITION (7 = DATA PROTECT). */
  senseKey?: number;
}

/** One iSCSI session that stays logged in until closed. */
export class HeldSession {
  private constructor(private readonly ini: RawInitiator, private readonly lun: number) {}

  /** Logs in with the connection_info's CHAP; returns the login status (0 = logged in) and the session. */
  static async open(ci: FlatConnectionInfo, initiator: string): Promise<{ status: number; session: HeldSession }> {
    const ini = await RawInitiator.connect(splitPortal(ci.target_portal).port);
    const status = await ini.login({ initiator, target: ci.target_iqn, chap: { username: ci.auth_username, password: ci.auth_password } });
    const session = new HeldSession(ini, ci.target_lun);
    // A new nexus first reports a unit attention (power on / reset); clear it as a real initiator does.
    if (status === 0) for (let i = 0; i < 3 && (await session.command(TEST_UNIT_READY)).status === 2; i++);
    return { status, session };
  }

  get closed(): boolean {
    return this.ini.closed;
  }

  /** Waits until the target closes the session; true if it did. */
  waitClosed(timeoutMs = 5000): Promise<boolean> {
    return this.ini.waitClosed(timeoutMs);
  }

  async read(lba: number, blocks: number, blockSize = 512): Promise<CommandResult> {
    if (this.ini.closed) return { status: null, data: Buffer.alloc(0) };
    this.ini.send(this.ini.scsiCommand(read10(lba, blocks), { read: true, edtl: blocks * blockSize, lun: this.lun }));
    return this.collect();
  }

  async write(lba: number, data: Buffer): Promise<CommandResult> {
    if (this.ini.closed) return { status: null, data: Buffer.alloc(0) };
    // Fits in the immediate data the login negotiated (FirstBurstLength 64 KiB), so no R2T is needed.
    this.ini.send(this.ini.scsiCommand(write10(lba, data.length / 512), { write: true, edtl: data.length, data, lun: this.lun }));
    return this.collect();
  }

  private async command(cdb: Buffer): Promise<CommandResult> {
    this.ini.send(this.ini.scsiCommand(cdb, { lun: this.lun }));
    return this.collect();
  }

  private async collect(): Promise<CommandResult> {
    const chunks: Buffer[] = [];
    for (;;) {
      const p = await this.ini.receive(10_000);
      if (!p) return { status: null, data: Buffer.concat(chunks) };
      const op = p.bhs[0]! & 0x3f;
      if (op === Opcode.DATA_IN) {
        chunks.push(p.data);
        if (p.bhs[1]! & 0x01) return { status: p.bhs[3]!, data: Buffer.concat(chunks) };
      } else if (op === Opcode.SCSI_RESPONSE) {
        const status = p.bhs[3]!;
        // Sense data: 2-byte length, then fixed-format sense whose byte 2 holds the key.
        const senseKey = status === 2 && p.data.length >= 5 ? p.data[4]! & 0x0f : undefined;
        return { status, data: Buffer.concat(chunks), senseKey };
      }
    }
  }

  close(): void {
    this.ini.close();
  }
}
