#!/usr/bin/env python3
"""A fault-injecting HTTP proxy in front of dynalite, for the DynamoDb e2e tests.

    ddb_proxy.py UPSTREAM_PORT MODE_FILE PORT_FILE

Listens on a free loopback port (written to PORT_FILE) and forwards every
POST to 127.0.0.1:UPSTREAM_PORT unchanged (the signed Host header too). Before
each request it reads MODE_FILE, one line:

    pass              forward (also when the file is missing or empty)
    delay MS          wait MS milliseconds, then forward
    throttle [N]      answer 400 ThrottlingException (N times, then pass)
    error500 [N]      answer 500 InternalServerError (N times, then pass)
    badcreds          answer 400 UnrecognizedClientException
    expired KEYID     answer 400 ExpiredTokenException to requests signed
                      with access key KEYID; forward the others
    scanloop          answer every Scan with no items and the same
                      LastEvaluatedKey (paging in a circle); forward the others
    scanendless       answer every Scan with no items and a new
                      LastEvaluatedKey (paging for ever); forward the others

Each handled request appends its X-Amz-Target, what was done and the access
key id that signed it (the Authorization header's Credential=) to
MODE_FILE.log, so tests can count retries and see which keys were used, and
{"target", "body"} (the request's JSON) as one line to MODE_FILE.bodies, so
tests can see what was asked. Stops on SIGTERM.
"""
import http.client
import http.server
import json
import os
import re
import sys
import threading
import time

upstream_port = int(sys.argv[1])
mode_file = sys.argv[2]
port_file = sys.argv[3]
lock = threading.Lock()
counts = {}


def mode():
    try:
        with open(mode_file) as f:
            words = f.read().split()
    except FileNotFoundError:
        words = []
    return words or ['pass']


def log(target, what, key='-'):
    with lock, open(mode_file + '.log', 'a') as f:
        f.write('%s %s %s\n' % (target, what, key))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/x-amz-json-1.0')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        n = int(self.headers.get('Content-Length', '0'))
        body = self.rfile.read(n)
        target = self.headers.get('X-Amz-Target', '?')
        m = re.search(r'Credential=([^/,\s]+)/', self.headers.get('Authorization', ''))
        key = m.group(1) if m else '-'
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = body.decode('utf-8', 'replace')
        with lock, open(mode_file + '.bodies', 'a') as f:
            f.write(json.dumps({'target': target, 'body': parsed}) + '\n')
        words = mode()
        kind = words[0]
        if kind in ('scanloop', 'scanendless') and target.endswith('.Scan'):
            with lock:
                counts['scan'] = counts.get('scan', 0) + 1
                n = counts['scan']
            log(target, kind, key)
            time.sleep(0.002)
            at = 'zz' if kind == 'scanloop' else 'zz%09d' % n
            return self.answer(200, {'Items': [], 'Count': 0, 'ScannedCount': 0,
                                     'LastEvaluatedKey': {'userId': {'S': at}}})
        if kind == 'expired' and len(words) > 1 and key == words[1]:
            log(target, kind, key)
            return self.answer(400, {
                '__type': 'com.amazon.coral.service#ExpiredTokenException',
                'message': 'The security token included in the request is expired'})
        if kind in ('throttle', 'error500'):
            limit = int(words[1]) if len(words) > 1 else None
            key = ' '.join(words)
            with lock:
                done = counts.get(key, 0)
                counts[key] = done + 1
            if limit is None or done < limit:
                log(target, kind, key)
                if kind == 'throttle':
                    return self.answer(400, {
                        '__type': 'com.amazonaws.dynamodb.v20120810#ThrottlingException',
                        'message': 'Rate of requests exceeds the allowed throughput.'})
                return self.answer(500, {
                    '__type': 'com.amazonaws.dynamodb.v20120810#InternalServerError',
                    'message': 'Internal server error'})
        if kind == 'badcreds':
            log(target, kind, key)
            return self.answer(400, {
                '__type': 'com.amazon.coral.service#UnrecognizedClientException',
                'message': 'The security token included in the request is invalid.'})
        if kind == 'delay':
            time.sleep(int(words[1]) / 1000.0)
        log(target, 'pass', key)
        try:
            conn = http.client.HTTPConnection('127.0.0.1', upstream_port, timeout=60)
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ('connection', 'content-length')}
            conn.request('POST', self.path, body, headers)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
        except OSError:
            self.close_connection = True
            return
        try:
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ('connection', 'transfer-encoding', 'content-length'):
                    self.send_header(k, v)
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            # the client gave up (its timeout): nothing to say
            self.close_connection = True

    def log_message(self, *a):
        pass


srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
srv.daemon_threads = True
with open(port_file + '.tmp', 'w') as f:
    f.write(str(srv.server_address[1]))
os.rename(port_file + '.tmp', port_file)
srv.serve_forever()
