#!/usr/bin/env python3
"""Agent of the embervol test VM: reads one JSON request per line from a serial port and answers each with
one line '@@R <json>'. Requests: {"id": n, "sh": "bash command", "timeout": s} runs a command and returns
rc/out/err; {"id": n, "py": "code", "args": {...}} runs Python in one namespace kept for the whole boot (os-brick
objects live there between requests), with `args` bound to the request's args (secrets travel there, not in
the code), and returns the value the code left in `result`; {"id": n, "exit": true} ends
the agent (and the VM). Writes '@@READY' once it listens."""
import json
import os
import subprocess
import sys
import traceback
import tty

port = sys.argv[1] if len(sys.argv) > 1 else '/dev/ttyS1'
fd = os.open(port, os.O_RDWR | os.O_NOCTTY)
tty.setraw(fd)


def send(line):
    data = (line + '\n').encode()
    while data:
        n = os.write(fd, data)
        data = data[n:]


namespace = {'__name__': 'embervol_agent'}


def handle(req):
    if 'sh' in req:
        try:
            p = subprocess.run(['bash', '-c', req['sh']], stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=req.get('timeout', 300))
            return {'rc': p.returncode, 'out': p.stdout.decode(errors='replace'), 'err': p.stderr.decode(errors='replace')}
        except subprocess.TimeoutExpired as e:
            return {'rc': None, 'out': (e.stdout or b'').decode(errors='replace'), 'err': 'timed out'}
    if 'py' in req:
        namespace.pop('result', None)
        namespace['args'] = req.get('args')
        try:
            exec(compile(req['py'], '<request>', 'exec'), namespace)
            return {'ok': True, 'result': namespace.get('result')}
        except BaseException:
            return {'ok': False, 'error': traceback.format_exc()}
    return {'error': 'unknown request'}


send('@@READY')
buf = b''
while True:
    chunk = os.read(fd, 65536)
    if not chunk:
        break
    buf += chunk
    while b'\n' in buf:
        line, buf = buf.split(b'\n', 1)
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
        except ValueError:
            send('@@R ' + json.dumps({'id': None, 'error': 'bad json'}))
            continue
        if req.get('exit'):
            send('@@R ' + json.dumps({'id': req.get('id'), 'ok': True}))
            sys.exit(0)
        res = handle(req)
        res['id'] = req.get('id')
        send('@@R ' + json.dumps(res, default=str))
