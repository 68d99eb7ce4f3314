// Placeholder until the CLI lands; replaced by the control-plane work.
console.error('embervol: CLI not built yet');
process.exit(1);
