// Entry point: `npm run bench -- <name> [options]`. Each benchmark prints Markdown tables.
const benches: Record<string, () => Promise<{ main: () => Promise<void> }>> = {
  'http-cycle': () => import('./http-cycle.js'),
  'control-plane': () => import('./control-plane.js'),
  'scale-out': () => import('./scale-out.js'),
  datapath: () => import('./datapath.js'),
  'api-under-load': () => import('./api-under-load.js'),
  snapshots: () => import('./snapshots.js'),
};

const name = process.argv[2];
if (!name || !(name in benches)) {
  console.error(`usage: npm run bench -- <${Object.keys(benches).join('|')}> [options]`);
  process.exit(2);
}
const mod = await benches[name]();
await mod.main();
