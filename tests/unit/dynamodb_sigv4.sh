#!/bin/bash
# The SigV4 signature libcurl computes for jovofs's DynamoDB requests equals
# botocore's for the same request, keys and time.
#
#   dynamodb_sigv4.sh PATH/TO/test_dynamodb
#
# A one-shot python listener on a free loopback port captures what jovofs
# sends; botocore (vendored by Debian's awscli) signs the request that
# jovofs meant to send, independently, and the Authorization headers must be
# equal. Once without and once with a session token.
set -euo pipefail

exe=${1:?usage: dynamodb_sigv4.sh TEST_DYNAMODB}
botocore_path=/usr/lib/python3/dist-packages/awscli
py=/usr/bin/python3
[[ -x $py ]] || py=python3
if ! PYTHONPATH=$botocore_path "$py" -c 'import botocore.auth' 2>/dev/null; then
	echo "botocore (Debian's awscli) not found: skipped"
	exit 77
fi
work=$(mktemp -d)
listener_pid=
cleanup() {
	if [[ -n $listener_pid ]]; then kill "$listener_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0

# one_case NAME [SESSION_TOKEN]
one_case() {
	local name=$1 token=${2:-} port
	local date=20260115T093000Z
	local body='{"TableName":"Sig","Key":{"userId":{"S":"amzn1.ask.account.AF3"}},"ConsistentRead":true}'

	rm -f "$work/port" "$work/capture.json"
	"$py" - "$work" <<'EOF' &
import http.server, json, socket, sys
work = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get('Content-Length', '0'))
        body = self.rfile.read(n).decode()
        with open(work + '/capture.json', 'w') as f:
            json.dump({'path': self.path, 'headers': self.headers.items(), 'body': body}, f)
        out = b'{}'
        self.send_response(200)
        self.send_header('Content-Type', 'application/x-amz-json-1.0')
        self.send_header('Content-Length', str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(('127.0.0.1', 0), H)
with open(work + '/port.tmp', 'w') as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(work + '/port.tmp', work + '/port')
srv.timeout = 20
srv.handle_request()
EOF
	listener_pid=$!
	for _ in $(seq 100); do
		[[ -s $work/port ]] && break
		sleep 0.05
	done
	port=$(cat "$work/port")

	local status
	if ! status=$(env -i PATH="$PATH" HOME="$work" \
		AWS_ACCESS_KEY_ID=AKIDEXAMPLE \
		AWS_SECRET_ACCESS_KEY='wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' \
		${token:+AWS_SESSION_TOKEN="$token"} \
		"$exe" sigv4 "http://127.0.0.1:$port" GetItem "$body" "$date"); then
		echo "not ok - $name: request failed"
		failed=$((failed + 1))
		wait "$listener_pid" || true
		listener_pid=
		return
	fi
	wait "$listener_pid" || true
	listener_pid=
	if [[ $status != 200 ]]; then
		echo "not ok - $name: status $status"
		failed=$((failed + 1))
		return
	fi

	if PYTHONPATH=$botocore_path "$py" - "$work/capture.json" "$port" "$body" "$date" "$token" <<'EOF'; then
import json, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

cap_path, port, body, date, token = sys.argv[1:6]
cap = json.load(open(cap_path))
got = [v for k, v in cap['headers'] if k.lower() == 'authorization']
if len(got) != 1:
    sys.exit('expected one Authorization header, got %r' % got)
got = got[0]
if cap['body'] != body:
    sys.exit('body differs: %r' % cap['body'])
if cap['path'] != '/':
    sys.exit('path %r' % cap['path'])
# What jovofs means to send: the JSON API's two headers, nothing else signed.
req = AWSRequest(method='POST', url='http://127.0.0.1:%s/' % port, data=body.encode(),
                 headers={'Content-Type': 'application/x-amz-json-1.0',
                          'X-Amz-Target': 'DynamoDB_20120810.GetItem'})
auth = SigV4Auth(Credentials('AKIDEXAMPLE', 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
                             token or None), 'dynamodb', 'us-east-1')
# add_auth() with the clock fixed: botocore takes the time from the context
req.context['timestamp'] = date
auth._modify_request_before_signing(req)
canonical = auth.canonical_request(req)
sig = auth.signature(auth.string_to_sign(req, canonical), req)
auth._inject_signature_to_request(req, sig)
want = req.headers['Authorization']
if got != want:
    print('libcurl:  ' + got)
    print('botocore: ' + want)
    print('botocore canonical request:\n' + canonical)
    sys.exit(1)
if token:
    sent = [v for k, v in cap['headers'] if k.lower() == 'x-amz-security-token']
    if sent != [token]:
        sys.exit('session token header %r' % sent)
print(got.split(', ')[1])
EOF
		echo "ok - $name"
		passed=$((passed + 1))
	else
		echo "not ok - $name: signatures differ"
		failed=$((failed + 1))
	fi
}

one_case "GetItem signed like botocore"
one_case "GetItem with a session token signed like botocore" "FQoGZXIvYXdzEXAMPLETOKEN//+=="
echo "$passed passed, $failed failed"
((failed == 0))
