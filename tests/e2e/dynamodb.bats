#!/usr/bin/env bats
# DynamoDb only (DESIGN sections 1, 2a, 5, 7): what awscli, an independent
# client, sees of the mount's writes and the mount of awscli's; faults of
# the server (stopped, slow, throttling, refusing the credentials) and
# conflicts made behind the mount's back.

load common

setup_file() {
	[[ "$JOVOFS_TEST_BACKEND" == dynamodb ]] || return 0
	jfs_setup_file
}

teardown_file() {
	[[ "$JOVOFS_TEST_BACKEND" == dynamodb ]] || return 0
	jfs_teardown_file
}

setup() {
	require_backend dynamodb
	JFS_PROXY_PID=
	jfs_setup
}

teardown() {
	local rc=0
	jfs_teardown || rc=1
	ddb_proxy_stop
	# a test that stopped the server leaves it running for the next one
	if [[ -z "${JOVOFS_TEST_DYNAMODB_ENDPOINT:-}" ]] && ! ddb_answers; then
		ddb_dynalite_start "$JFS_DDB_PORT" "$JFS_DDB_DATA" "$JFS_DDB_LOG"
	fi
	return $rc
}

# --- helpers ------------------------------------------------------------

# Start the fault proxy in front of the server; the mount's config then
# points at it. Mode: see ddb_proxy.py (written to $JFS_PROXY_MODE).
ddb_proxy_start() {
	local upstream="${JFS_DDB_ENDPOINT##*:}" i
	JFS_PROXY_MODE="$BATS_TEST_TMPDIR/proxy.mode"
	echo pass >"$JFS_PROXY_MODE"
	rm -f "$BATS_TEST_TMPDIR/proxy.port"
	python3 "$JFS_E2E_DIR/ddb_proxy.py" "$upstream" "$JFS_PROXY_MODE" \
		"$BATS_TEST_TMPDIR/proxy.port" 3>&- &
	JFS_PROXY_PID=$!
	for i in $(seq 100); do
		[[ -s "$BATS_TEST_TMPDIR/proxy.port" ]] && break
		sleep 0.05
	done
	JFS_PROXY_ENDPOINT="http://127.0.0.1:$(cat "$BATS_TEST_TMPDIR/proxy.port")"
}

ddb_proxy_stop() {
	if [[ -n "${JFS_PROXY_PID:-}" ]]; then
		kill "$JFS_PROXY_PID" 2>/dev/null || true
		wait "$JFS_PROXY_PID" 2>/dev/null || true
		JFS_PROXY_PID=
	fi
}

# until CMD...: until CMD succeeds, 15 s at most
until_ok() {
	local i
	for i in $(seq 750); do
		"$@" && return 0
		sleep 0.02
	done
	echo "timed out waiting for: $*" >&2
	return 1
}

# scans_seen MODE: how many Scans the proxy answered in MODE
scans_seen() {
	grep -c "$1" "$JFS_PROXY_MODE.log" || true
}

# scans_above N MODE: the proxy answered more than N Scans in MODE
scans_above() {
	[ "$(scans_seen "$2")" -gt "$1" ]
}

# gone PID: the process has exited
gone() {
	! kill -0 "$1" 2>/dev/null
}

# make_config with the endpoint replaced (the proxy's)
make_config_endpoint() {
	make_config "${2:-}"
	jq --arg e "$1" '.dynamodb.libraryConfig.dynamoDbClient.endpoint = $e' "$JFS_CONFIG" \
		>"$JFS_CONFIG.new"
	mv "$JFS_CONFIG.new" "$JFS_CONFIG"
}

put_raw() {
	ddb_aws dynamodb put-item --table-name "$JFS_DDB_TABLE" --item "$1"
}

# what awscli, the independent client, reads of item $1
raw_field() {
	ddb_aws dynamodb get-item --table-name "$JFS_DDB_TABLE" --consistent-read \
		--key "$(jq -cn --arg pk "$JFS_DDB_PK" --arg id "$1" '{($pk): {S: $id}}')" | jq -c "$2"
}

# --- the backend's own test interface ----------------------------------

@test "dynamodb: seed, get and ids of the test interface agree with awscli" {
	seed_json "[$(item a '{"n":0.1,"s":""}'),$(item 'b/c' '{}')]"
	[ "$(backend_ids | sort | tr '\n' ' ')" = "a b/c " ]
	[ "$(stored_field a .user.data)" = '{"n":0.1,"s":""}' ]
	[ "$(stored_field a .id)" = '"a"' ]
	[ "$(raw_field a '.Item.userId')" = '{"S":"a"}' ]
	[ "$(raw_field a '.Item.user.M.data.M.n')" = '{"N":"0.1"}' ]
	[ "$(raw_field a '.Item | has("id")')" = false ]
	not backend_get nobody
}

# --- awscli <-> mount ---------------------------------------------------

@test "dynamodb: awscli reads back what the mount wrote, marshalled as Jovo does" {
	seed_json "[$(item u1 '{"a":1}')]"
	make_config "$ALL_ON"
	mount_jfs
	# (no number beyond 2^53 here: the Jovo app cannot load one back, so the
	# mount refuses it; numbers.bats holds that)
	echo '{"data":{"n":0.1,"e":"","m":{},"l":[null,true,"x"]}}' \
		>"$JFS_MNT/u1/user.json"
	echo '{"id":"s-9","data":{"step":2},"state":[]}' >"$JFS_MNT/u1/session.json"
	mkdir "$JFS_MNT/new user"
	# no umount: DynamoDb stores at close()
	[ "$(raw_field u1 '.Item.user.M.data.M.n')" = '{"N":"0.1"}' ]
	[ "$(raw_field u1 '.Item.user.M.data.M.e')" = '{"S":""}' ]
	[ "$(raw_field u1 '.Item.user.M.data.M.m')" = '{"M":{}}' ]
	[ "$(raw_field u1 '.Item.user.M.data.M.l')" = '{"L":[{"NULL":true},{"BOOL":true},{"S":"x"}]}' ]
	[ "$(raw_field u1 '.Item.session.M.id')" = '{"S":"s-9"}' ]
	[ "$(raw_field u1 '.Item.session.M.state')" = '{"L":[]}' ]
	[ "$(raw_field u1 '.Item | has("id")')" = false ]
	[ "$(raw_field 'new user' '.Item.userId')" = '{"S":"new user"}' ]
	[ "$(raw_field 'new user' '.Item.user')" = '{"M":{"data":{"M":{}}}}' ]
	[ "$(stored_field u1 .user.data.n)" = 0.1 ]
	assert_updated_since u1 "$(($(iso_now_ms) - 60000))"
}

@test "dynamodb: an id holding a NUL byte is skipped with a warning, never shown as another user" {
	put_raw '{"userId":{"S":"alice"},"user":{"M":{"data":{"M":{"who":{"S":"alice"}}}}}}'
	put_raw '{"userId":{"S":"alice\u0000x"},"user":{"M":{"data":{"M":{"who":{"S":"nul"}}}}}}'
	mount_jfs
	[ "$(ls "$JFS_MNT" | tr '\n' ' ')" = "alice " ]
	[ "$(jq -r .data.who "$JFS_MNT/alice/user.json")" = alice ]
	[ "$(ls "$JFS_MNT/.jovofs/find/user.data.who?" | tr '\n' ' ')" = "alice " ]
	grep -q "holds a NUL byte skipped" "$JFS_LOG"
}

@test "dynamodb: items awscli writes show in the mount, sets as arrays" {
	put_raw '{"userId":{"S":"w1"},"user":{"M":{"data":{"M":{
		"ss":{"SS":["b","a"]},"ns":{"NS":["1.5","2"]},"nul":{"NULL":true},"t":{"BOOL":true},
		"e":{"S":""},"m":{"M":{}},"deep":{"L":[{"M":{"x":{"L":[{"N":"-0"}]}}}]}}}}},
		"createdAt":{"S":"2026-01-01T00:00:00.000Z"},"updatedAt":{"S":"2026-01-02T00:00:00.000Z"}}'
	mount_jfs
	ls "$JFS_MNT" | grep -qx w1
	[ "$(jq -c '.data.ss | sort' "$JFS_MNT/w1/user.json")" = '["a","b"]' ]
	[ "$(jq -c '.data.ns | sort' "$JFS_MNT/w1/user.json")" = '[1.5,2]' ]
	[ "$(jq -c '.data | [.nul, .t, .e, .m, .deep]' "$JFS_MNT/w1/user.json")" = '[null,true,"",{},[{"x":[0]}]]' ]
	[ "$(cat "$JFS_MNT/w1/updatedAt")" = 2026-01-02T00:00:00.000Z ]
	# a later awscli write shows within the cache time
	put_raw '{"userId":{"S":"w2"},"user":{"M":{"data":{"M":{}}}}}'
	sleep 2
	ls "$JFS_MNT" | grep -qx w2
}

@test "dynamodb: 38-digit numbers and sets stored by others survive an edit next to them" {
	put_raw '{"userId":{"S":"big"},"user":{"M":{"data":{"M":{
		"big":{"N":"12345678901234567890123456789012345678"},"tiny":{"N":"0.000000000000000000000000000001"},
		"ns":{"NS":["99999999999999999999999999999999999999"]},"x":{"N":"1"}}}}},
		"custom":{"N":"98765432109876543210987654321098765432"},
		"createdAt":{"S":"2026-01-01T00:00:00.000Z"},"updatedAt":{"S":"2026-01-02T00:00:00.000Z"}}'
	mount_jfs
	sed -i 's/"x": 1/"x": 2/' "$JFS_MNT/big/user.json"
	[ "$(raw_field big '.Item.user.M.data.M.x.N')" = '"2"' ]
	[ "$(raw_field big '.Item.user.M.data.M.big.N')" = '"12345678901234567890123456789012345678"' ]
	[ "$(raw_field big '.Item.user.M.data.M.ns')" = '{"NS":["99999999999999999999999999999999999999"]}' ]
	[ "$(raw_field big '.Item.custom.N')" = '"98765432109876543210987654321098765432"' ]
	# a tiny number survives in some exact decimal form
	node -e 'if (Number(process.argv[1]) !== 1e-30) process.exit(1)' \
		"$(raw_field big '.Item.user.M.data.M.tiny.N' | jq -r .)"
	# the number itself edited: written the way JavaScript prints it
	sed -i 's/"big": 1.2345678901234568e+37/"big": 5/' "$JFS_MNT/big/user.json"
	[ "$(raw_field big '.Item.user.M.data.M.big.N')" = '"5"' ]
}

@test "dynamodb: a new number beyond +-(2^53-1) is EINVAL naming its path: a Jovo app could not load it" {
	seed_json "[$(item alice '{"n":1}')]"
	mount_jfs
	run probe write-close "$JFS_MNT/alice/user.json" '{"data":{"n":1,"big":12345678901234567890}}'
	[ "$output" = EINVAL ]
	[[ "$(probe getxattr "$JFS_MNT/alice/user.json" user.jovofs.error)" == *"'user.data.big' is 12345678901234567000"*"2^53"* ]]
	grep -q "user.data.big" "$JFS_MNT/.jovofs/errors"
	[ "$(stored_field alice .user.data)" = '{"n":1}' ]
	run probe write-close "$JFS_MNT/alice/user.json" '{"data":{"n":[0,-1e300]}}'
	[ "$output" = EINVAL ]
	[[ "$(probe getxattr "$JFS_MNT/alice/user.json" user.jovofs.error)" == *"'user.data.n[1]'"* ]]
	# the largest a Jovo app loads is fine, and so is a string of digits
	[ "$(probe write-close "$JFS_MNT/alice/user.json" '{"data":{"n":9007199254740991,"s":"12345678901234567890"}}')" = OK ]
	[ "$(raw_field alice '.Item.user.M.data.M.n.N')" = '"9007199254740991"' ]
}

# --- conflicts ----------------------------------------------------------

@test "dynamodb: awscli changes the element between read and write: ESTALE, awscli's kept" {
	seed_json "[$(item c1 '{"v":"old"}')]"
	# default cache settings: the cache expires while the editor holds the file
	mount_jfs
	local sync="$BATS_TEST_TMPDIR/edit"
	probe hold-edit "$JFS_MNT/c1/user.json" '{"data":{"v":"FromMount"}}' "$sync" >"$JFS_TMP/out" &
	local pid=$! i
	for i in $(seq 200); do [[ -e "$sync.ready" ]] && break; sleep 0.05; done
	[ -e "$sync.ready" ]
	ddb_aws dynamodb update-item --table-name "$JFS_DDB_TABLE" --key '{"userId":{"S":"c1"}}' \
		--update-expression 'SET #u = :u, #t = :t' \
		--expression-attribute-names '{"#u":"user","#t":"updatedAt"}' \
		--expression-attribute-values '{":u":{"M":{"data":{"M":{"v":{"S":"FromAwscli"}}}}},":t":{"S":"2026-03-03T03:03:03.333Z"}}'
	touch "$sync"
	wait "$pid"
	[ "$(cat "$JFS_TMP/out")" = ESTALE ]
	[ "$(stored_field c1 .user.data.v)" = '"FromAwscli"' ]
	grep -rl FromMount "$JFS_MNT/.jovofs/conflicts/" >/dev/null
}

@test "dynamodb: awscli changes another key between read and write: both kept" {
	seed_json "[$(item c2 '{"v":"old"}')]"
	mount_jfs
	local sync="$BATS_TEST_TMPDIR/edit"
	probe hold-edit "$JFS_MNT/c2/user.json" '{"data":{"v":"FromMount"}}' "$sync" >"$JFS_TMP/out" &
	local pid=$! i
	for i in $(seq 200); do [[ -e "$sync.ready" ]] && break; sleep 0.05; done
	ddb_aws dynamodb update-item --table-name "$JFS_DDB_TABLE" --key '{"userId":{"S":"c2"}}' \
		--update-expression 'SET #c = :c, #t = :t' \
		--expression-attribute-names '{"#c":"plugin","#t":"updatedAt"}' \
		--expression-attribute-values '{":c":{"S":"FromAwscli"},":t":{"S":"2026-03-03T03:03:03.333Z"}}'
	touch "$sync"
	wait "$pid"
	[ "$(cat "$JFS_TMP/out")" = OK ]
	[ "$(stored_field c2 .user.data.v)" = '"FromMount"' ]
	[ "$(stored_field c2 .plugin)" = '"FromAwscli"' ]
}

@test "dynamodb: awscli deletes the item between read and write: the write fails, nothing resurrected" {
	seed_json "[$(item gone '{"v":"old"}')]"
	mount_jfs
	local sync="$BATS_TEST_TMPDIR/edit"
	probe hold-edit "$JFS_MNT/gone/user.json" '{"data":{"v":"FromMount"}}' "$sync" >"$JFS_TMP/out" &
	local pid=$! i
	for i in $(seq 200); do [[ -e "$sync.ready" ]] && break; sleep 0.05; done
	ddb_aws dynamodb delete-item --table-name "$JFS_DDB_TABLE" --key '{"userId":{"S":"gone"}}'
	touch "$sync"
	wait "$pid"
	[ "$(cat "$JFS_TMP/out")" != OK ]
	not backend_get gone
}

# --- faults -------------------------------------------------------------

@test "dynamodb: server stopped during use: EIO, daemon alive, recovers when it is back" {
	[[ -z "${JOVOFS_TEST_DYNAMODB_ENDPOINT:-}" ]] || skip "needs the suite's own dynalite"
	seed_json "[$(item up '{"v":1}'),$(item down '{"v":2}')]"
	mount_jfs -o retry_timeout=1500 -o request_timeout=1000 -o cache_timeout=0
	cat "$JFS_MNT/up/user.json" >/dev/null
	ddb_dynalite_stop
	local t0=$SECONDS
	run probe read "$JFS_MNT/down/user.json"
	assert_errno_any_step EIO "$output"
	run probe write-close "$JFS_MNT/up/user.json" '{"data":{"v":3}}'
	assert_errno_any_step EIO "$output"
	((SECONDS - t0 < 20))
	jfs_daemon_alive
	grep -q "cannot reach dynamodb at 'http://127.0.0.1:$JFS_DDB_PORT'" "$JFS_LOG"
	ddb_dynalite_start "$JFS_DDB_PORT" "$JFS_DDB_DATA" "$JFS_DDB_LOG"
	[ "$(jq -c .data "$JFS_MNT/down/user.json")" = '{"v":2}' ]
	[ "$(probe write-close "$JFS_MNT/up/user.json" '{"data":{"v":3}}')" = OK ]
	[ "$(stored_field up .user.data.v)" = 3 ]
}

@test "dynamodb: slow answers within the request timeout work; slower ones fail in bounded time" {
	seed_json "[$(item s1 '{"v":1}'),$(item s2 '{"v":2}'),$(item s3 '{"v":3}')]"
	ddb_proxy_start
	make_config_endpoint "$JFS_PROXY_ENDPOINT"
	mount_jfs -o retry_timeout=1000 -o request_timeout=1500 -o cache_timeout=0
	echo "delay 400" >"$JFS_PROXY_MODE"
	[ "$(jq -c .data "$JFS_MNT/s1/user.json")" = '{"v":1}' ]
	[ "$(probe write-close "$JFS_MNT/s1/user.json" '{"data":{"v":10}}')" = OK ]
	echo "delay 4000" >"$JFS_PROXY_MODE"
	local t0=$SECONDS
	run probe read "$JFS_MNT/s2/user.json"
	assert_errno_any_step EIO "$output"
	((SECONDS - t0 < 15))
	jfs_daemon_alive
	echo pass >"$JFS_PROXY_MODE"
	[ "$(jq -c .data "$JFS_MNT/s3/user.json")" = '{"v":3}' ]
	[ "$(stored_field s1 .user.data.v)" = 10 ]
}

@test "dynamodb: an endpoint that pages in a circle fails the listing; one that pages for ever stops at SIGTERM" {
	seed_json "[$(item c1 '{"v":1}')]"
	ddb_proxy_start
	make_config_endpoint "$JFS_PROXY_ENDPOINT"
	echo scanloop >"$JFS_PROXY_MODE"
	mount_jfs -o cache_timeout=0 -o total_segments=1
	run ls "$JFS_MNT"
	[ "$status" -ne 0 ]
	until_ok grep -q "its paging goes round in a circle" "$JFS_LOG"
	jfs_daemon_alive
	# lookups of one user do not page: they work
	[ "$(jq -c .data "$JFS_MNT/c1/user.json")" = '{"v":1}' ]
	echo scanendless >"$JFS_PROXY_MODE"
	ls "$JFS_MNT" >/dev/null 2>&1 &
	local lspid=$! n0 t0
	n0="$(scans_seen scanendless)"
	until_ok scans_above $((n0 + 20)) scanendless
	# a find view pages for ever too
	ls "$JFS_MNT/.jovofs/find/user.data.v=1" >/dev/null 2>&1 &
	local findpid=$!
	sleep 0.5
	t0=$SECONDS
	kill -TERM "$JFS_PID"
	until_ok gone "$JFS_PID"
	((SECONDS - t0 < 10))
	wait "$lspid" "$findpid" 2>/dev/null || true
	jfs_forget_daemon
	# it stopped asking
	n0="$(scans_seen scanendless)"
	sleep 0.5
	[ "$(scans_seen scanendless)" -eq "$n0" ]
}

@test "dynamodb: throttling is retried with backoff, then EAGAIN" {
	seed_json "[$(item t1 '{"v":1}'),$(item t2 '{"v":2}')]"
	ddb_proxy_start
	make_config_endpoint "$JFS_PROXY_ENDPOINT"
	mount_jfs -o retry_timeout=3000 -o cache_timeout=0
	echo "throttle 3" >"$JFS_PROXY_MODE"
	[ "$(jq -c .data "$JFS_MNT/t1/user.json")" = '{"v":1}' ]
	[ "$(grep -c throttle "$JFS_PROXY_MODE.log")" -ge 3 ]
	echo "error500 2" >"$JFS_PROXY_MODE"
	[ "$(probe write-close "$JFS_MNT/t1/user.json" '{"data":{"v":5}}')" = OK ]
	[ "$(stored_field t1 .user.data.v)" = 5 ]
	echo throttle >"$JFS_PROXY_MODE"
	run probe read "$JFS_MNT/t2/user.json"
	assert_errno_any_step EAGAIN "$output"
	grep -q ThrottlingException "$JFS_LOG"
	jfs_daemon_alive
}

@test "dynamodb: refused credentials: EACCES, the log names the source, never the secret" {
	seed_json "[$(item k1 '{"v":1}')]"
	ddb_proxy_start
	make_config_endpoint "$JFS_PROXY_ENDPOINT"
	export AWS_SECRET_ACCESS_KEY=jfs-unit-very-secret-value
	mount_jfs -o retry_timeout=500 -o cache_timeout=0
	echo badcreds >"$JFS_PROXY_MODE"
	run probe read "$JFS_MNT/k1/user.json"
	assert_errno_any_step EACCES "$output"
	grep -q "credentials from env" "$JFS_LOG"
	not grep -rq jfs-unit-very-secret-value "$JFS_LOG" "$JFS_MNT/.jovofs/"
	not grep -q jfs-unit-very-secret-value "/proc/$JFS_PID/cmdline"
	grep -q '"credentials": "env"' "$JFS_MNT/.jovofs/config"
}

@test "dynamodb: an item over DynamoDB's 400 KB: EFBIG with DynamoDB's message in the log" {
	seed_json "[$(item huge '{}')]"
	mount_jfs
	node -e 'console.log(JSON.stringify({data: {b: "x".repeat(450000)}}))' >"$JFS_TMP/big.json"
	# cp reports close()'s error (a redirection would not)
	run cp "$JFS_TMP/big.json" "$JFS_MNT/huge/user.json"
	[ "$status" -ne 0 ]
	[[ "$output" == *"File too large"* ]]
	grep -qi "size" "$JFS_LOG"
	[ "$(stored_field huge .user.data)" = '{}' ]
}

@test "dynamodb: a find view is a parallel Scan with a FilterExpression of placeholders, projecting the key" {
	seed_json "[$(item alice '{"city":"Paris","score":900}'),$(item bob '{"city":"Wien","score":"950"}'),$(item carl '{"city":"Paris","score":10}')]"
	ddb_proxy_start
	make_config_endpoint "$JFS_PROXY_ENDPOINT"
	mount_jfs -o total_segments=3
	local b="$JFS_PROXY_MODE.bodies" scans
	: >"$b"
	[ "$(ls "$JFS_MNT/.jovofs/find/user.data.city=Paris" | tr '\n' ' ')" = "alice carl " ]
	# (a listing may be read meanwhile too: its Scans have no filter)
	scans="$(jq -c 'select(.target == "DynamoDB_20120810.Scan") | .body | select(has("FilterExpression"))' "$b")"
	# one Scan per segment, each with the filter; names and values only as placeholders
	[ "$(jq -s 'map(.Segment) | sort | join(",")' -r <<<"$scans")" = 0,1,2 ]
	[ "$(jq -s 'map(.TotalSegments) | unique | join(",")' -r <<<"$scans")" = 3 ]
	jq -e 'select(.FilterExpression | test("#n[0-9]+\\.#n[0-9]+\\.#n[0-9]+ = :v[0-9]+")) |
		select(.FilterExpression | test("user|data|city|Paris") | not)' <<<"$scans" >/dev/null
	[ "$(jq -s '.[0] | [.ExpressionAttributeNames[]] | sort | join(",")' -r <<<"$scans")" = city,data,user,userId ]
	[ "$(jq -s '.[0].ExpressionAttributeValues | [.[]] | map(.S) | join(",")' -r <<<"$scans")" = Paris ]
	# only the key column comes back
	[ "$(jq -s '.[0] | .ExpressionAttributeNames[.ProjectionExpression]' -r <<<"$scans")" = userId ]
	# a comparison JavaScript makes across types ("950" >= 500): the value comes too
	: >"$b"
	[ "$(ls "$JFS_MNT/.jovofs/find/user.data.score>=500" | tr '\n' ' ')" = "alice bob " ]
	jq -e -s 'map(select(.target == "DynamoDB_20120810.Scan") | .body | select(has("FilterExpression"))) | .[0] |
		(.FilterExpression | test(">= :v")) and (.ProjectionExpression | test(","))' "$b" >/dev/null
	# the listing is the same parallel Scan, with no filter (read again after the cache time)
	: >"$b"
	sleep 1.1
	[ "$(ls "$JFS_MNT" | tr '\n' ' ')" = "alice bob carl " ]
	[ "$(jq -c 'select(.target == "DynamoDB_20120810.Scan") | .body | select(has("FilterExpression") | not) | .Segment' "$b" | sort -u | wc -l)" = 3 ]
}

@test "dynamodb: listTimes: a small table's listing projects the key and the times (auto), false the key alone" {
	seed_json "[$(item alice), $(item bob)]"
	ddb_proxy_start
	make_config_endpoint "$JFS_PROXY_ENDPOINT"
	local b="$JFS_PROXY_MODE.bodies"
	: >"$b"
	mount_jfs
	[ "$(ls "$JFS_MNT" | tr '\n' ' ')" = "alice bob " ]
	# auto: DescribeTable's ItemCount, then the listing's own count, is under the limit
	[ "$(jq -r 'select(.target == "DynamoDB_20120810.Scan") | .body |
		[.ExpressionAttributeNames[(.ProjectionExpression | split(", "))[]]] | join(",")' "$b" | sort -u)" = \
		userId,createdAt,updatedAt ]
	# (the count is taken as the listing's last page has gone to ls)
	eventually jq -e '.dynamodb.listTimes | startswith("auto (the times: about 2 users")' \
		"$JFS_MNT/.jovofs/config"
	[ "$(stat -c %Y "$JFS_MNT/alice")" = "$(date -d 2026-01-02T03:04:05.678Z +%s)" ]
	umount_jfs
	jq '.dynamodb.listTimes = false' "$JFS_CONFIG" >"$JFS_CONFIG.new"
	mv "$JFS_CONFIG.new" "$JFS_CONFIG"
	: >"$b"
	mount_jfs
	[ "$(ls "$JFS_MNT" | tr '\n' ' ')" = "alice bob " ]
	[ "$(jq -r 'select(.target == "DynamoDB_20120810.Scan") | .body |
		.ExpressionAttributeNames[.ProjectionExpression]' "$b" | sort -u)" = userId ]
	[ "$(jq .dynamodb.listTimes "$JFS_MNT/.jovofs/config")" = false ]
	# the times then come from the record
	[ "$(stat -c %Y "$JFS_MNT/alice")" = "$(date -d 2026-01-02T03:04:05.678Z +%s)" ]
	umount_jfs
	jq '.dynamodb.listTimes = "sometimes"' "$JFS_CONFIG" >"$JFS_CONFIG.new"
	mv "$JFS_CONFIG.new" "$JFS_CONFIG"
	run "$JOVOFS_BIN" --check -o "config=$JFS_CONFIG"
	[ "$status" -ne 0 ]
	[[ "$output" == *"'dynamodb.listTimes' must be true, false or \"auto\""* ]]
}

# --- table and config ---------------------------------------------------

@test "dynamodb: a missing table is created (createTableOnInit) and used once ACTIVE" {
	JFS_DDB_TABLE="jfs_new_${RANDOM}_$$"
	make_config
	mount_jfs
	[ "$(ddb_aws dynamodb describe-table --table-name "$JFS_DDB_TABLE" | jq -r .Table.TableStatus)" = ACTIVE ]
	[ "$(ddb_aws dynamodb describe-table --table-name "$JFS_DDB_TABLE" | jq -c .Table.KeySchema)" = '[{"AttributeName":"userId","KeyType":"HASH"}]' ]
	mkdir "$JFS_MNT/first"
	[ "$(stored_field first .id)" = '"first"' ]
}

@test "dynamodb: a missing table with createTableOnInit false fails the mount, naming it" {
	JFS_DDB_TABLE="jfs_absent_${RANDOM}_$$"
	make_config
	jq '.dynamodb.table.createTableOnInit = false' "$JFS_CONFIG" >"$JFS_CONFIG.new"
	mv "$JFS_CONFIG.new" "$JFS_CONFIG"
	not mount_jfs 2>/dev/null
	grep -q "table '$JFS_DDB_TABLE' not found" "$JFS_LOG"
}

@test "dynamodb: primaryKeyColumn other than userId, unknown keys warned" {
	JFS_DDB_PK=pk
	JFS_DDB_TABLE="jfs_pk_${RANDOM}_$$"
	ddb_create_table "$JFS_DDB_TABLE"
	seed_json "[$(item p1 '{"v":1}')]"
	make_config
	jq '.dynamodb.table.foo = 1 | .dynamodb.bar = 2' "$JFS_CONFIG" >"$JFS_CONFIG.new"
	mv "$JFS_CONFIG.new" "$JFS_CONFIG"
	mount_jfs
	grep -q "unknown key 'dynamodb.table.foo' ignored" "$JFS_LOG"
	grep -q "unknown key 'dynamodb.bar' ignored" "$JFS_LOG"
	[ "$(jq -c .data "$JFS_MNT/p1/user.json")" = '{"v":1}' ]
	echo '{"data":{"v":2}}' >"$JFS_MNT/p1/user.json"
	[ "$(raw_field p1 '.Item.pk')" = '{"S":"p1"}' ]
	[ "$(raw_field p1 '.Item | has("userId")')" = false ]
	[ "$(stored_field p1 .user.data.v)" = 2 ]
}

@test "dynamodb: a table keyed by another column is refused with a clear message" {
	local want=$JFS_DDB_TABLE
	JFS_DDB_PK=otherKey
	JFS_DDB_TABLE="jfs_other_${RANDOM}_$$"
	ddb_create_table "$JFS_DDB_TABLE"
	JFS_DDB_PK=userId
	make_config
	not mount_jfs 2>/dev/null
	grep -q "keyed by 'otherKey', not by 'userId'" "$JFS_LOG"
	: "$want"
}

@test "dynamodb: listing pages through a table larger than one Scan page" {
	node -e '
		const items = [];
		for (let i = 0; i < 1200; i++)
			items.push({id: "user-" + String(i).padStart(5, "0"), user: {data: {i}},
				createdAt: "2026-01-01T00:00:00.000Z", updatedAt: "2026-01-02T00:00:00.000Z"});
		console.log(JSON.stringify(items));' >"$JFS_TMP/many.json"
	backend_seed "$JFS_TMP/many.json"
	mount_jfs
	[ "$(ls "$JFS_MNT" | grep -c '^user-')" = 1200 ]
	[ "$(jq -c .data "$JFS_MNT/user-01199/user.json")" = '{"i":1199}' ]
}
