#!/usr/bin/env bats
# DESIGN section 2: the .jovofs status folder.

load common

teardown() {
	# background listers stop with the test, whatever happened to it
	[ -z "${JFS_TMP:-}" ] || touch "$JFS_TMP/stop"
	jfs_teardown
}

@test ".jovofs holds config, metrics, errors, conflicts/, find/ (and journal, undo with a journal)" {
	mount_jfs
	run ls "$JFS_MNT/.jovofs"
	assert_equal_str "$output" "$(printf '%s\n' config conflicts errors find journal metrics undo)"
	[ -d "$JFS_MNT/.jovofs/conflicts" ]
	[ -d "$JFS_MNT/.jovofs/find" ]
	for f in config metrics errors journal undo; do [ -f "$JFS_MNT/.jovofs/$f" ]; done
	umount_jfs
	mount_jfs -o journal=off
	run ls "$JFS_MNT/.jovofs"
	assert_equal_str "$output" "$(printf '%s\n' config conflicts errors find metrics)"
}

@test ".jovofs files are read-only" {
	mount_jfs
	for f in config metrics errors; do
		(($(stat -c '%#a' "$JFS_MNT/.jovofs/$f") & 0222)) && { echo "$f is writable" >&2; return 1; }
		run probe write-close "$JFS_MNT/.jovofs/$f" 'x'
		[ "$output" != OK ]
	done
	run probe mkdir "$JFS_MNT/.jovofs/x"
	[ "$output" != OK ]
	run probe unlink "$JFS_MNT/.jovofs/config"
	[ "$output" != OK ]
}

@test ".jovofs is never taken for a user and never stored" {
	mount_jfs
	run probe mkdir "$JFS_MNT/.jovofs"
	[ "$output" = EEXIST ]
	run probe rmdir "$JFS_MNT/.jovofs"
	[ "$output" != OK ]
	ls -A "$JFS_MNT" >/dev/null
	umount_jfs
	[ -z "$(backend_ids)" ]
}

@test "config shows the effective config, with secrets redacted" {
	make_config '{"user":true,"session":{"expiresAfterSeconds":123}}' \
		'{"mongodb":{"connectionString":"mongodb://jovo:S3cr3tPassw0rd@127.0.0.1:1/app"},
		  "dynamodb":{"libraryConfig":{"dynamoDbClient":{"region":"eu-west-1",
		    "credentials":{"accessKeyId":"AKIAEXAMPLEKEY","secretAccessKey":"SeCrEtAcCeSsKeY123"}}}}}'
	mount_jfs
	grep -q "$(backend_name)" "$JFS_MNT/.jovofs/config"
	grep -q 123 "$JFS_MNT/.jovofs/config"
	not grep -q S3cr3tPassw0rd "$JFS_MNT/.jovofs/config"
	not grep -q SeCrEtAcCeSsKeY123 "$JFS_MNT/.jovofs/config"
	not grep -q S3cr3tPassw0rd "$JFS_LOG"
	not grep -q SeCrEtAcCeSsKeY123 "$JFS_LOG"
	[ "$(stat -c %s "$JFS_MNT/.jovofs/config")" = "$(probe read-size "$JFS_MNT/.jovofs/config")" ]
}

@test "metrics is in the Prometheus text format and counts activity" {
	seed_json "[$(item alice)]"
	mount_jfs
	cat "$JFS_MNT/alice/user.json" >/dev/null
	echo '{"data":{"x":1}}' >"$JFS_MNT/alice/user.json"
	cat "$JFS_MNT/.jovofs/metrics" >"$JFS_TMP/m"
	[ -s "$JFS_TMP/m" ]
	grep -q '^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* \(counter\|gauge\|histogram\|summary\|untyped\)$' "$JFS_TMP/m"
	# every sample line: name{labels} value
	run grep -Ev '^(# (HELP|TYPE) .*|[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? [-+]?([0-9.]+([eE][-+]?[0-9]+)?|NaN|Inf)( [0-9]+)?|)$' "$JFS_TMP/m"
	[ -z "$output" ] || { echo "bad metrics lines: $output" >&2; return 1; }
	# some sample is non-zero after a read and a write
	awk '!/^#/ && NF >= 2 && $2 + 0 > 0 { f = 1 } END { exit !f }' "$JFS_TMP/m"
}

@test "errors lists a failed write with its reason" {
	seed_json "[$(item alice)]"
	mount_jfs
	[ "$(probe read "$JFS_MNT/.jovofs/errors" | grep -c alice)" -eq 0 ]
	run probe write-close "$JFS_MNT/alice/user.json" '{"data": [}'
	[ "$output" = EINVAL ]
	grep -q 'alice/user.json' "$JFS_MNT/.jovofs/errors"
	[ "$(stat -c %s "$JFS_MNT/.jovofs/errors")" -gt 0 ]
}

@test "user.jovofs.error is the reason of the last failed write on that file" {
	seed_json "[$(item alice)]"
	mount_jfs
	run probe getxattr "$JFS_MNT/alice/user.json" user.jovofs.error
	[[ "$output" = ENODATA || -z "$output" ]]
	probe write-close "$JFS_MNT/alice/user.json" '{"data": 5}' >/dev/null
	run probe getxattr "$JFS_MNT/alice/user.json" user.jovofs.error
	[ -n "$output" ]
	[ "$output" != ENODATA ]
	run probe listxattr "$JFS_MNT/alice/user.json"
	[[ "$output" == *user.jovofs.id* ]]
}

@test "conflicts read, listed and removed while new ones are kept: whole contents, no memory errors" {
	seed_json "[$(item alice '{"name":"Ada"}')]"
	mount_jfs -o cache_timeout=60
	local u="$JFS_MNT/alice" c="$JFS_MNT/.jovofs/conflicts" big i k f pids=()
	[ "$(jq -r .data.name "$u/user.json")" = Ada ]
	seed_json "[$(item alice '{"name":"FromApp"}' 2026-05-05T05:05:05.005Z)]"
	# listings (readdirplus: each entry is looked up) all along
	for k in 1 2; do
		( while [ ! -e "$JFS_TMP/stop" ] && jfs_daemon_alive; do ls -l "$c" >/dev/null 2>&1 || :; done ) 3>&- &
		pids+=($!)
	done
	for round in 1 2 3 4 5 6; do
		# each write of the version read before the app's change is ESTALE and kept
		for i in $(seq 1 60); do
			[ "$(probe write-close "$u/user.json" "{\"data\":{\"n\":$i}}")" = ESTALE ]
		done
		[ "$(ls "$c" | wc -l)" -eq 60 ]
		rm -f "$c"/*
		[ -z "$(ls "$c")" ] || {
			echo "left after rm -f (and a second later):" >&2
			ls -la "$c" >&2
			sleep 1
			ls -la "$c" >&2
			false
		}
	done
	# kept versions read by reader threads while they are removed
	big="$(head -c 900000 /dev/zero | tr '\0' x)"
	printf '{"data":{"pad":"%s"}}' "$big" >"$JFS_TMP/big.json"
	for i in $(seq 1 40); do
		[ "$(probe copy-close "$JFS_TMP/big.json" "$u/user.json")" = ESTALE ]
		f="$(ls "$c")"
		[ "$(probe read-size "$c/$f")" = "$(stat -c %s "$JFS_TMP/big.json")" ]
		run probe read-while-unlink "$c/$f"
		[ "${lines[0]}" = OK ]
		[[ "${lines[1]}" == "reads "* ]]
		[ ! -e "$c/$f" ]
	done
	touch "$JFS_TMP/stop"
	wait "${pids[@]}"
	umount_jfs
	[ "$(stored_field alice .user.data.name)" = '"FromApp"' ]
}

@test "secret hygiene: a config with secrets others may read is warned about; secrets leave the environment; no core dumps" {
	local extra
	if [ "$JOVOFS_TEST_BACKEND" = mongodb ]; then
		extra='{"dynamodb":{"libraryConfig":{"dynamoDbClient":{"credentials":{"accessKeyId":"AKIDX","secretAccessKey":"cfgsecret123"}}}}}'
	else
		extra='{"mongodb":{"connectionString":"mongodb://u:cfgsecret123@127.0.0.1:1/app"}}'
	fi
	make_config "" "$extra"
	chmod 644 "$JFS_CONFIG"
	AWS_SECRET_ACCESS_KEY=envsecret456 AWS_SESSION_TOKEN=envtoken789 mount_jfs
	grep -q "holds secrets and others may read it (mode 0644)" "$JFS_LOG"
	not grep -aq envsecret456 "/proc/$JFS_PID/environ"
	not grep -aq envtoken789 "/proc/$JFS_PID/environ"
	grep -q '^Max core file size *0 *0 ' "/proc/$JFS_PID/limits"
	not grep -q cfgsecret123 "$JFS_MNT/.jovofs/config"
	umount_jfs
	not grep -q "cfgsecret123\|envsecret456" "$JFS_LOG"
	: >"$JFS_LOG"
	chmod 600 "$JFS_CONFIG"
	mount_jfs -o core_dump
	not grep -q "holds secrets" "$JFS_LOG"
	not grep -q '^Max core file size *0 *0 ' "/proc/$JFS_PID/limits"
}
