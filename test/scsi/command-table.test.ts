import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expectedDataOutLength } from '../../src/scsi/command-table.js';

describe('command table', () => {
  it('knows the Data-Out length of write CDBs for residuals', () => {
    const w10 = Buffer.from([0x2a, 0, 0, 0, 0, 0, 0, 0, 2, 0]);
    assert.equal(expectedDataOutLength(w10, 512), 1024);
    assert.equal(expectedDataOutLength(Buffer.from([0x0a, 0, 0, 0, 0, 0]), 512), 256 * 512);
    assert.equal(expectedDataOutLength(Buffer.from([0x00, 0, 0, 0, 0, 0]), 512), undefined);
  });
});
