#!/usr/bin/env bats
# Operating the daemon (issue 11): jovofs --check, the Prometheus endpoint
# (-o metrics_listen), systemd's notify protocol ($NOTIFY_SOCKET), SIGHUP
# and SIGTERM, and the systemd unit's own command lines.

load common

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A config whose store cannot be reached or read, per backend.
broken_config() {
	case "$(backend_name)" in
	filedb)
		echo '{"not": "an array"}' >"$JFS_TMP/object.json"
		make_config '' "$(jq -cn --arg p "$JFS_TMP/object.json" '{filedb: {pathToFile: $p}}')"
		;;
	dynamodb)
		make_config '' '{"dynamodb": {"table": {"name": "jfs_no_such_table"}}}'
		;;
	mongodb)
		make_config '' '{"mongodb": {"connectionString": "mongodb://127.0.0.1:1/app?serverSelectionTimeoutMS=1500"}}'
		;;
	esac
}

# A datagram socket like systemd's: every message it gets is appended to $1.
notify_listen() {
	local sock=$1 out=$2
	python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[1] + ".ready", "w").close()
while True:
    msg = s.recv(4096).decode()
    with open(sys.argv[2], "a") as f:
        f.write(msg.replace("\n", "|") + "\n")
' "$sock" "$out" 3>&- &
	JFS_NOTIFY_PID=$!
	for _ in $(seq 100); do
		[[ -e "$sock.ready" ]] && return 0
		sleep 0.02
	done
	return 1
}

teardown() {
	local rc=0
	jfs_teardown || rc=1
	if [[ -n "${JFS_NOTIFY_PID:-}" ]]; then
		kill "$JFS_NOTIFY_PID" 2>/dev/null || true
		wait "$JFS_NOTIFY_PID" 2>/dev/null || true
	fi
	return $rc
}

@test "--check: a good config passes and prints backend, target, credentials and users" {
	seed_json "[$(item alice), $(item bob)]"
	make_config
	run "$JOVOFS_BIN" --check -o "config=$JFS_CONFIG"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"backend      $(backend_name)"* ]]
	[[ "$output" == *"target       "* ]]
	[[ "$output" == *"credentials  "* ]]
	[[ "$output" == *"users        2"* ]]
	[[ "$output" == *"check passed"* ]]
	# the mount's own words (config, options, mountpoint) work too, and mount nothing
	run "$JOVOFS_BIN" --check -o "config=$JFS_CONFIG,allow_delete" "$JFS_MNT"
	[ "$status" -eq 0 ]
	not jfs_is_mounted
	# and "SOURCE" as mount(8) passes it
	run "$JOVOFS_BIN" --check "$JFS_CONFIG" "$JFS_MNT"
	[ "$status" -eq 0 ]
	[[ "$output" == *"users        2"* ]]
}

@test "--check: an unreachable or unreadable store fails non-zero with the reason, in bounded time" {
	broken_config
	local t0=$SECONDS
	run "$JOVOFS_BIN" --check -o "config=$JFS_CONFIG,request_timeout=2000"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"check failed"* ]]
	[[ "$output" != *"check passed"* ]]
	((SECONDS - t0 < 15))
	case "$(backend_name)" in
	filedb) [[ "$output" == *"object.json"* ]] ;;
	dynamodb) [[ "$output" == *"jfs_no_such_table"* ]] ;;
	mongodb) [[ "$output" == *"127.0.0.1:1"* ]] ;;
	esac
	# nothing was created on the way
	if [[ "$(backend_name)" == dynamodb ]]; then
		ddb_api DescribeTable '{"TableName":"jfs_no_such_table"}' >/dev/null 2>&1 && false
	fi
	# a config that does not parse fails too, naming the file
	echo '{"backend": ' >"$JFS_CONFIG"
	run "$JOVOFS_BIN" --check -o "config=$JFS_CONFIG"
	[ "$status" -ne 0 ]
	[[ "$output" == *"$JFS_CONFIG"* ]]
}

@test "metrics_listen: /metrics serves .jovofs/metrics over HTTP, with the latency histogram" {
	seed_json "[$(item alice)]"
	local port
	port="$(free_port)"
	mount_jfs -o "metrics_listen=127.0.0.1:$port"
	cat "$JFS_MNT/alice/user.json" >/dev/null
	curl -sS -D "$JFS_TMP/h" "http://127.0.0.1:$port/metrics" >"$JFS_TMP/http"
	cat "$JFS_MNT/.jovofs/metrics" >"$JFS_TMP/file"
	grep -qi '^content-type: text/plain; version=0.0.4' "$JFS_TMP/h"
	# the same series (values move between two reads)
	diff <(grep -v '^#' "$JFS_TMP/http" | sed 's/ [^ ]*$//' | grep -v http_scrapes) \
		<(grep -v '^#' "$JFS_TMP/file" | sed 's/ [^ ]*$//' | grep -v http_scrapes)
	grep -q '^# TYPE jovofs_backend_seconds histogram$' "$JFS_TMP/http"
	# a load was timed: +Inf equals the count, and it is at least one
	local inf count
	inf="$(awk '$1 == "jovofs_backend_seconds_bucket{op=\"load\",le=\"+Inf\"}" { print $2 }' "$JFS_TMP/http")"
	count="$(awk '$1 == "jovofs_backend_seconds_count{op=\"load\"}" { print $2 }' "$JFS_TMP/http")"
	[ -n "$inf" ] && [ "$inf" = "$count" ] && ((count >= 1))
	# buckets are cumulative
	awk -F'[ ]' '/^jovofs_backend_seconds_bucket\{op="load"/ { if ($2 + 0 < prev) bad = 1; prev = $2 + 0 }
		END { exit bad }' "$JFS_TMP/http"
	grep -q '^# TYPE jovofs_backend_errors_total counter$' "$JFS_TMP/http"
	# other paths and methods
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/nope")" = 404 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/metrics")" = 405 ]
	grep -q "metricsListen.*127.0.0.1:$port" "$JFS_MNT/.jovofs/config"
	umount_jfs
	# the port is closed with the mount
	not curl -s -m 2 "http://127.0.0.1:$port/metrics" >/dev/null
}

@test "metrics_listen: a taken port or a bad address fails the mount, saying why" {
	require_backend filedb # the same for every backend
	local port
	port="$(free_port)"
	python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
open(sys.argv[2], "w").close(); time.sleep(30)' "$port" "$JFS_TMP/held" 3>&- &
	local holder=$!
	for _ in $(seq 200); do
		[[ -e "$JFS_TMP/held" ]] && break
		sleep 0.02
	done
	make_config
	run timeout 20 "$JOVOFS_BIN" -f -o "config=$JFS_CONFIG,metrics_listen=127.0.0.1:$port" "$JFS_MNT"
	kill "$holder"
	wait "$holder" 2>/dev/null || true
	[ "$status" -ne 0 ]
	[[ "$output" == *"metrics_listen '127.0.0.1:$port'"*"in use"* ]]
	not jfs_is_mounted
	run timeout 20 "$JOVOFS_BIN" -f -o "config=$JFS_CONFIG,metrics_listen=somewhere" "$JFS_MNT"
	[ "$status" -ne 0 ]
	[[ "$output" == *"is not ADDR:PORT"* ]]
	not jfs_is_mounted
}

@test "systemd: READY=1 once the mount serves, STATUS= lines, SIGHUP reloads, STOPPING=1 at the end" {
	seed_json "[$(item alice), $(item bob)]"
	local sock="$BATS_TEST_TMPDIR/notify.sock" msgs="$BATS_TEST_TMPDIR/notify.msgs"
	notify_listen "$sock" "$msgs"
	NOTIFY_SOCKET="$sock" mount_jfs
	# READY=1 comes after the mount answers, with the daemon's pid
	for _ in $(seq 100); do
		grep -q 'READY=1' "$msgs" 2>/dev/null && break
		sleep 0.05
	done
	grep -q "^READY=1|MAINPID=$JFS_PID$" "$msgs"
	# the mount serves while its first listing is read: the count comes when it is whole
	for _ in $(seq 200); do
		grep -q "^STATUS=.*: 2 users;" "$msgs" && break
		sleep 0.05
	done
	grep -q "^STATUS=$(backend_name) on $JFS_MNT: 2 users; last error: none$" "$msgs"
	# a failure shows in the next STATUS=
	echo 'not json' >"$JFS_MNT/alice/user.json" || true
	for _ in $(seq 100); do
		grep -q '^STATUS=.*last error: .*cannot parse' "$msgs" && break
		sleep 0.05
	done
	grep -q '^STATUS=.*last error: .*cannot parse' "$msgs"
	# SIGHUP no longer ends the daemon: it reloads
	kill -HUP "$JFS_PID"
	for _ in $(seq 100); do
		grep -q 'RELOADING=1' "$msgs" && grep -c 'READY=1' "$msgs" | grep -q 2 && break
		sleep 0.05
	done
	grep -q '^RELOADING=1$' "$msgs"
	[ "$(grep -c 'READY=1' "$msgs")" -eq 2 ]
	grep -q 'SIGHUP: reloading' "$JFS_LOG"
	jfs_daemon_alive
	cat "$JFS_MNT/bob/user.json" >/dev/null
	umount_jfs
	grep -q '^STOPPING=1$' "$msgs"
}

@test "SIGTERM: pending FileDb edits are saved, then the mount goes, exit status 0" {
	require_backend filedb
	seed_json "[$(item alice)]"
	mount_jfs -o write_delay=60000
	echo '{"data":{"term":1}}' >"$JFS_MNT/alice/user.json"
	# pending: not in the file yet, counted in the metrics
	[ "$(stored_field alice .user.data.term)" = null ]
	sleep 0.3
	grep -q '^jovofs_filedb_pending_edits 1$' "$JFS_MNT/.jovofs/metrics"
	awk '$1 == "jovofs_filedb_oldest_pending_edit_seconds" && $2 > 0.2 { f = 1 } END { exit !f }' \
		"$JFS_MNT/.jovofs/metrics"
	kill -TERM "$JFS_PID"
	local st=0
	wait "$JFS_PID" || st=$?
	JFS_PID=
	[ "$st" -eq 0 ]
	not jfs_is_mounted
	[ "$(stored_field alice .user.data.term)" = 1 ]
	check_log_clean
}

@test "mount-scripts/jovofs@.service: its ExecStartPre and ExecStart lines check, mount and notify" {
	require_backend filedb # the unit is the same for every backend
	local unit="$JFS_REPO/mount-scripts/jovofs@.service" etc="$BATS_TEST_TMPDIR/etc"
	mkdir -p "$etc"
	make_config
	seed_json "[$(item alice)]"
	cp "$JFS_CONFIG" "$etc/test.json"
	echo "$JFS_MNT" >"$etc/test.mountpoint"
	grep -q '^Type=notify$' "$unit"
	# the unit's lines, as systemd would run them for jovofs@test (%i), with
	# this build's binary and a test folder for /etc/jovofs
	unit_line() {
		sed -n "s/^$1=//p" "$unit" | sed -e "s|%i|test|g" -e "s|/etc/jovofs|$etc|g" \
			-e "s|/usr/local/bin/jovofs|$JOVOFS_BIN|g" -e 's/^[-+!@]*//'
	}
	local pre start
	pre="$(unit_line ExecStartPre | grep -- --check)"
	start="$(unit_line ExecStart)"
	[ -n "$pre" ] && [ -n "$start" ]
	run bash -c "$pre"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"check passed"* ]]
	local sock="$BATS_TEST_TMPDIR/notify.sock" msgs="$BATS_TEST_TMPDIR/notify.msgs"
	notify_listen "$sock" "$msgs"
	NOTIFY_SOCKET="$sock" bash -c "$start" >>"$JFS_LOG" 2>&1 3>&- &
	JFS_PID=$!
	for _ in $(seq 200); do
		grep -q 'READY=1' "$msgs" 2>/dev/null && break
		sleep 0.05
	done
	grep -q 'READY=1' "$msgs"
	[ "$(jq -c .data "$JFS_MNT/alice/user.json")" = '{}' ]
	if command -v systemd-analyze >/dev/null; then
		# the unit's syntax, as systemd reads it (no running systemd needed)
		cp "$unit" "$BATS_TEST_TMPDIR/jovofs@.service"
		run systemd-analyze verify --man=no "$BATS_TEST_TMPDIR/jovofs@.service"
		echo "$output"
		[[ "$output" != *"Unknown key"* && "$output" != *"Unknown section"* ]]
		[[ "$output" != *"Failed to parse"* ]]
	fi
}
