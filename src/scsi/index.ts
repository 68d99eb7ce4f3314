// Public surface of the SCSI layer, for the iSCSI transport and the builtin target driver.
export * from './types.js';
export { ScsiTargetDevice } from './target-device.js';
export { createLogicalUnit, defaultLimits, type BlockLogicalUnit, type LogicalUnitOptions } from './logical-unit.js';
export { buildSense, SenseKey, Asc } from './sense.js';
export { encodeLun } from './report-luns.js';
export { QosLimiter, hasQosLimits, type QosLimitSettings } from './qos-limits.js';
