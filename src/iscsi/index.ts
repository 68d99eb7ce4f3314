// Public surface of the iSCSI target transport (RFC 7143). It executes SCSI through the SCSI
// layer's LUN map and knows nothing of volumes, databases or HTTP.
export { IscsiTargetServer, type IscsiServerOptions, type TargetOptions, type SessionInfo, type ScsiLunMap } from './server.js';
export { DEFAULT_TARGET_LIMITS, type TargetLimits } from './params.js';
export { LoginStatus } from './login-status.js';
