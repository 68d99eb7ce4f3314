// Contracts of the SCSI layer. It executes one CDB against a block device and knows nothing of iSCSI.

/** A byte-addressed device with a fixed logical block size. Offsets and lengths are in bytes. */
export interface BlockDevice {
  readonly blockSize: number;
  /** The device refuses writes whatever the initiator's mapping says (e.g. a file opened read-only). */
  readonly readOnly?: boolean;
  /** Current size in bytes (re-read so that an extended file shows its new size). */
  size(): number;
  // read and write may complete synchronously (a page-cache hit returns its value, no promise); a promise when the
  // I/O had to wait. `await` takes both.
  read(offset: number, length: number): Buffer | Promise<Buffer>;
  /** fua: the data is on stable storage before this returns or its promise resolves. */
  write(offset: number, data: Buffer, fua: boolean): void | Promise<void>;
  flush(): Promise<void>;
  /** Deallocate (punch a hole); reads of the range return zeroes afterwards. */
  discard(offset: number, length: number): Promise<void>;
  close(): Promise<void>;
  /** Re-reads the size after the backing store was resized (size() may be cached). */
  refreshSize?(): Promise<void>;
}

/** One SCSI command as the transport hands it over, with all Data-Out already gathered. */
export interface ScsiCommand {
  cdb: Buffer;
  /** Data-Out (write) payload, complete. */
  dataOut?: Buffer;
  /** Allocation/expected transfer length from the transport, for residual computation. */
  expectedDataLength: number;
  /** Identifies the I_T nexus (for reservations and unit attention), e.g. "<initiator iqn>,i,0x<isid>". */
  nexus: string;
  /** The initiator's mapping is read-only: any medium write fails with DATA PROTECT. */
  readOnly: boolean;
}

export interface ScsiResult {
  /** SAM status: 0x00 GOOD, 0x02 CHECK CONDITION, 0x08 BUSY, 0x18 RESERVATION CONFLICT. */
  status: number;
  /** Data-In payload (may be longer than expectedDataLength; the transport truncates and reports residual). */
  data?: Buffer;
  /** Fixed-format sense data when status is CHECK CONDITION. */
  sense?: Buffer;
}

export const SamStatus = {
  GOOD: 0x00,
  CHECK_CONDITION: 0x02,
  CONDITION_MET: 0x04,
  BUSY: 0x08,
  RESERVATION_CONFLICT: 0x18,
  TASK_SET_FULL: 0x28,
  TASK_ABORTED: 0x40,
} as const;

/** Identity of a logical unit as INQUIRY / VPD pages report it; stable per volume. */
export interface LogicalUnitIdentity {
  vendor: string; // 8 chars, padded
  product: string; // 16 chars, padded
  revision: string; // 4 chars
  /** Unit serial number (VPD 0x80), e.g. derived from the volume id. */
  serial: string;
  /** 16 bytes used for the NAA-6 / EUI designators in VPD 0x83. */
  uniqueId: Buffer;
}

/** One logical unit: executes CDBs against its BlockDevice. */
export interface LogicalUnit {
  readonly identity: LogicalUnitIdentity;
  /** A result when the command completed without waiting (the data path on a page-cache hit), else a promise. */
  execute(cmd: ScsiCommand): ScsiResult | Promise<ScsiResult>;
  /** Bytes of Data-Out the CDB asks for (to report residuals against), or undefined if it moves none we know of. */
  expectedDataOutLength(cdb: Buffer): number | undefined;
  /**
   * Task management: LOGICAL UNIT RESET (clears reservations held by reset semantics, sets unit attention).
   * Pass the nexus the function arrived on: every other nexus gets the unit attention, it does not.
   */
  reset(issuingNexus?: string): void;
  close(): Promise<void>;
  /** The I_T nexus is gone (session closed or dropped): releases what SPC says dies with it. */
  nexusLost?(nexus: string): void;
  /** The backing device was resized: re-read capacity and raise CAPACITY DATA HAS CHANGED. */
  capacityChanged?(): Promise<void>;
}
