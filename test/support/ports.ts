export { findFreePort } from '../../src/util/ports.js';
