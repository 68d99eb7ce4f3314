#!/usr/bin/python3
"""Reads a subunit v2 stream (`stestr last --subunit`) and prints one JSON object per test id on stdout:

    {"id": "...", "status": "success|fail|skip|xfail|uxsuccess|unknown", "reason": "...", "traceback": "...",
     "requests": ["404 GET http://...", ...]}

`requests` are the "Request (Class:test): STATUS METHOD URL" lines of the test's captured log (tempest's rest_client
logs one per API call), where subunit carries that log (tests, not setUpClass).

Run with Debian's /usr/bin/python3 (python3-subunit, python3-testtools). Ids are printed as tempest reports them
(with their [attribute] suffix); the caller strips them. Class-level results appear as "setUpClass (module.Class)".
"""
import collections
import json
import re
import sys

import subunit
import testtools

MAX_TEXT = 16000
REQUEST = re.compile(r'Request \(\w+:\w+\): (\d{3} \w+ \S+)')

tests = collections.OrderedDict()


class Collect(testtools.StreamResult):
    def status(self, test_id=None, test_status=None, file_name=None, file_bytes=None, **kw):
        if not test_id:
            return
        t = tests.setdefault(test_id, {'status': None, 'reason': b'', 'traceback': b'', 'log': b''})
        if test_status in ('success', 'fail', 'skip', 'xfail', 'uxsuccess'):
            t['status'] = test_status
        if file_bytes and file_name == 'reason':
            t['reason'] += bytes(file_bytes)
        elif file_bytes and file_name == 'traceback':
            t['traceback'] += bytes(file_bytes)
        elif file_bytes and file_name.startswith('pythonlogging'):
            t['log'] += bytes(file_bytes)


def main():
    with open(sys.argv[1], 'rb') as f:
        stream = subunit.ByteStreamToStreamResult(f, non_subunit_name='stdout')
        c = Collect()
        c.startTestRun()
        stream.run(c)
        c.stopTestRun()
    out = sys.stdout
    for tid, t in tests.items():
        tb = t['traceback'].decode('utf-8', 'replace')
        if len(tb) > MAX_TEXT:
            tb = tb[:2000] + '\n...\n' + tb[-(MAX_TEXT - 2000):]
        out.write(json.dumps({
            'id': tid,
            'status': t['status'] or 'unknown',
            'reason': t['reason'].decode('utf-8', 'replace')[:MAX_TEXT],
            'traceback': tb,
            'requests': REQUEST.findall(t['log'].decode('utf-8', 'replace')),
        }) + '\n')


main()
