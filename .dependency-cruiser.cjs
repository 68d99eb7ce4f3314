// The layer rules of ../shared/DESIGN.md ("Rules of the shape"), checked by `npm run lint:layers`
// (part of `npm test` through scripts/test.sh). A violation fails the test command.
module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      comment: 'No import cycle anywhere in src/.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'http-not-below-workflow',
      comment: 'HTTP reaches volumes only through the workflow: never the store, a host or a driver.',
      severity: 'error',
      from: { path: '^src/http/' },
      to: { path: '^src/(store|host|backends|targets|iscsi|scsi|blockdev)/' },
    },
    {
      name: 'workflow-not-up',
      comment: 'The workflow never imports HTTP or the CLI.',
      severity: 'error',
      from: { path: '^src/workflow/' },
      to: { path: '^src/(http|cli)/' },
    },
    {
      name: 'workflow-no-driver',
      comment: 'The workflow talks to a volume host, never to a backend, target or the data path.',
      severity: 'error',
      from: { path: '^src/workflow/' },
      to: { path: '^src/(backends|targets|iscsi|scsi|blockdev)/' },
    },
    {
      name: 'iscsi-stands-alone',
      comment: 'The iSCSI layer knows nothing of volumes, hosts, the database or HTTP.',
      severity: 'error',
      from: { path: '^src/iscsi/' },
      to: { path: '^src/(host|workflow|store|http|backends|targets|cli|auth)/' },
    },
    {
      name: 'scsi-below-iscsi',
      comment: 'The SCSI layer knows nothing of iSCSI (nor anything above it).',
      severity: 'error',
      from: { path: '^src/scsi/' },
      to: { path: '^src/(iscsi|host|workflow|store|http|backends|targets|cli|auth)/' },
    },
    {
      name: 'store-is-the-bottom',
      comment: 'The store knows nothing of the layers that use it.',
      severity: 'error',
      from: { path: '^src/store/' },
      to: { path: '^src/(workflow|http|host|cli|backends|targets|iscsi|scsi)/' },
    },
    {
      name: 'host-not-up',
      comment: 'A volume host is called by the workflow; it never calls back up.',
      severity: 'error',
      from: { path: '^src/(host|backends|targets|blockdev)/' },
      to: { path: '^src/(workflow|http|cli)/' },
    },
    {
      name: 'not-to-tests',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
  },
};
