// Version discovery documents (docs/cinder-compatibility.md#version-discovery).
import { MAX_VERSION, MIN_VERSION } from '../../workflow/context.js';
import { formatVersion } from '../microversion.js';

export function versionEntry(origin: string) {
  return {
    id: 'v3.0',
    status: 'CURRENT',
    version: formatVersion(MAX_VERSION),
    min_version: formatVersion(MIN_VERSION),
    updated: '2022-08-31T00:00:00Z',
    links: [
      { rel: 'describedby', type: 'text/html', href: 'https://docs.openstack.org/' },
      { rel: 'self', href: `${origin}/v3/` },
    ],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.volume+json;version=3' }],
  };
}
