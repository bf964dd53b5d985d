#!/usr/bin/env python3
"""Loopback STAND-INS for AWS credential services the tests cannot reach.

    aws_standin.py STATE_DIR

There is no local implementation of AWS STS, the IAM Identity Center (SSO)
portal or the ECS container credentials endpoint, so this one small server
plays all three, following AWS's documented request and response formats
(it is not AWS: it checks only what the tests need):

  POST /  Action=AssumeRole               STS (Query API, form body, SigV4 for
          Action=AssumeRoleWithWebIdentity service "sts"; the latter unsigned)
          -> <AssumeRoleResponse>/<AssumeRoleWithWebIdentityResponse> XML
             with <Credentials> AccessKeyId, SecretAccessKey, SessionToken,
             Expiration; errors as <ErrorResponse><Error><Code>
  GET /federation/credentials?account_id=&role_name=
          SSO portal GetRoleCredentials, header x-amz-sso_bearer_token
          -> {"roleCredentials": {accessKeyId, secretAccessKey, sessionToken,
             expiration (ms since the epoch)}}
  GET /ecs/...  container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI),
          header Authorization -> {AccessKeyId, SecretAccessKey, Token,
          Expiration}

STATE_DIR holds what the test sets and reads:
  port                written once listening
  expect.json         what a request must carry: {"web_identity_token",
                      "role_arn", "sso_token", "sso_account", "sso_role",
                      "ecs_token", "assume_role_signer"} (missing: not checked)
  requests.log        one line per request: "<kind> <signer key id or -> <ok|refused>"
Issued key ids are "ASIA" + kind + a counter (ASIAROLE1, ASIAWEBID1, ASIASSO1,
ASIAECS1); they expire an hour later unless expect.json sets
"expires_in" seconds.
"""
import datetime
import http.server
import json
import os
import re
import sys
import threading
import urllib.parse

state = sys.argv[1]
lock = threading.Lock()
counters = {}


def expect():
    try:
        with open(os.path.join(state, 'expect.json')) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def log(kind, signer, result):
    with lock, open(os.path.join(state, 'requests.log'), 'a') as f:
        f.write('%s %s %s\n' % (kind, signer or '-', result))


def issue(kind):
    with lock:
        counters[kind] = counters.get(kind, 0) + 1
        n = counters[kind]
    exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
        seconds=int(expect().get('expires_in', 3600)))
    return {
        'id': 'ASIA%s%d' % (kind, n),
        'secret': 'standin-secret-%s-%d' % (kind.lower(), n),
        'token': 'standin-session-token-%s-%d' % (kind.lower(), n),
        'exp': exp,
    }


def signer_of(headers):
    m = re.search(r'Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request',
                  headers.get('Authorization', ''))
    return (m.group(1), m.group(2), m.group(3)) if m else (None, None, None)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def send(self, status, body, ctype):
        data = body.encode()
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def sts_error(self, status, code, msg):
        self.send(status, '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                  '<Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error>'
                  '<RequestId>standin</RequestId></ErrorResponse>' % (code, msg), 'text/xml')

    def do_POST(self):
        n = int(self.headers.get('Content-Length', '0'))
        form = urllib.parse.parse_qs(self.rfile.read(n).decode())
        action = form.get('Action', [''])[0]
        want = expect()
        signer, region, service = signer_of(self.headers)
        if action == 'AssumeRole':
            if not signer or service != 'sts':
                log('AssumeRole', signer, 'refused')
                return self.sts_error(403, 'MissingAuthenticationToken', 'Request is missing '
                                      'Authentication Token')
            if 'assume_role_signer' in want and signer != want['assume_role_signer']:
                log('AssumeRole', signer, 'refused')
                return self.sts_error(403, 'InvalidClientTokenId', 'The security token '
                                      'included in the request is invalid.')
            kind, result = 'ROLE', 'AssumeRoleResult'
        elif action == 'AssumeRoleWithWebIdentity':
            if form.get('WebIdentityToken', [''])[0] != want.get('web_identity_token'):
                log('AssumeRoleWithWebIdentity', signer, 'refused')
                return self.sts_error(400, 'InvalidIdentityToken', 'Couldn\'t retrieve '
                                      'verification key from your identity provider')
            kind, result = 'WEBID', 'AssumeRoleWithWebIdentityResult'
        else:
            return self.sts_error(400, 'InvalidAction', 'Could not find operation ' + action)
        if 'role_arn' in want and form.get('RoleArn', [''])[0] != want['role_arn']:
            log(action, signer, 'refused')
            return self.sts_error(403, 'AccessDenied', 'Not authorized to perform '
                                  'sts:' + action)
        if not form.get('RoleSessionName', [''])[0]:
            return self.sts_error(400, 'ValidationError', 'RoleSessionName is required')
        c = issue(kind)
        log(action, signer, 'ok ' + c['id'])
        resp = action + 'Response'
        self.send(200, '<%s xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><%s>'
                  '<Credentials><AccessKeyId>%s</AccessKeyId>'
                  '<SecretAccessKey>%s</SecretAccessKey><SessionToken>%s</SessionToken>'
                  '<Expiration>%s</Expiration></Credentials>'
                  '<AssumedRoleUser><Arn>%s</Arn><AssumedRoleId>AROA:x</AssumedRoleId>'
                  '</AssumedRoleUser></%s><ResponseMetadata><RequestId>standin</RequestId>'
                  '</ResponseMetadata></%s>'
                  % (resp, result, c['id'], c['secret'], c['token'],
                     c['exp'].strftime('%Y-%m-%dT%H:%M:%SZ'), form.get('RoleArn', [''])[0],
                     result, resp), 'text/xml')

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        want = expect()
        if url.path == '/federation/credentials':
            q = urllib.parse.parse_qs(url.query)
            ok = (self.headers.get('x-amz-sso_bearer_token') == want.get('sso_token') and
                  q.get('account_id', [''])[0] == want.get('sso_account') and
                  q.get('role_name', [''])[0] == want.get('sso_role'))
            if not ok:
                log('GetRoleCredentials', None, 'refused')
                return self.send(401, json.dumps({'message': 'Session token not found or '
                                                  'invalid'}), 'application/json')
            c = issue('SSO')
            log('GetRoleCredentials', None, 'ok ' + c['id'])
            return self.send(200, json.dumps({'roleCredentials': {
                'accessKeyId': c['id'], 'secretAccessKey': c['secret'],
                'sessionToken': c['token'],
                'expiration': int(c['exp'].timestamp() * 1000)}}), 'application/json')
        if url.path.startswith('/ecs/'):
            if self.headers.get('Authorization') != want.get('ecs_token'):
                log('ContainerCredentials', None, 'refused')
                return self.send(403, json.dumps({'message': 'forbidden'}),
                                 'application/json')
            c = issue('ECS')
            log('ContainerCredentials', None, 'ok ' + c['id'])
            return self.send(200, json.dumps({
                'AccessKeyId': c['id'], 'SecretAccessKey': c['secret'], 'Token': c['token'],
                'Expiration': c['exp'].strftime('%Y-%m-%dT%H:%M:%SZ'),
                'RoleArn': 'arn:aws:iam::123456789012:role/standin'}), 'application/json')
        self.send(404, '{}', 'application/json')

    def log_message(self, *a):
        pass


srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
srv.daemon_threads = True
with open(os.path.join(state, 'port.tmp'), 'w') as f:
    f.write(str(srv.server_address[1]))
os.rename(os.path.join(state, 'port.tmp'), os.path.join(state, 'port'))
srv.serve_forever()
