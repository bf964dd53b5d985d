#!/usr/bin/env bats
# What the daemon holds for its readers and lookups stays bounded, whatever
# they do (review findings 3 and 4).

load common

setup() {
	# These tests measure what the daemon keeps. Under AddressSanitizer
	# memory it freed stays in ASan's quarantine (up to 256 MiB) and counts
	# in its RSS: a small quarantine keeps that out of the figures.
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4"
	jfs_setup
	seed_json "[$(item alice), $(item bob), $(item carol), $(item dave)]"
	# DynamoDB keeps items up to 400 KB
	PAD=900000
	[ "$JOVOFS_TEST_BACKEND" != dynamodb ] || PAD=300000
}

# rss_kb: the daemon's resident memory
rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$JFS_PID/status"
}

# big_user ID: give ID a user.json of about $PAD bytes, through the mount
big_user() {
	printf '{"data":{"pad":"%s"}}' "$(head -c "$PAD" /dev/zero | tr '\0' x)" >"$JFS_TMP/big.json"
	[ "$(probe copy-close "$JFS_TMP/big.json" "$JFS_MNT/$1/user.json")" = OK ]
}

# hold ID N: open ID's record.json N times and keep them open; HELD_PID, $JFS_TMP/held.ID
hold() {
	rm -f "$JFS_TMP/sync.$1" "$JFS_TMP/sync.$1.ready"
	probe open-many "$JFS_MNT/$1/record.json" "$2" "$JFS_TMP/sync.$1" >"$JFS_TMP/held.$1" 3>&- &
	HELD_PIDS+=($!)
	for _ in $(seq 3000); do [ -e "$JFS_TMP/sync.$1.ready" ] && return 0; sleep 0.02; done
	echo "open-many of $1 did not get ready" >&2
	return 1
}

@test "hundreds of readers of one large file share one copy of it" {
	mount_jfs
	local before during id
	HELD_PIDS=()
	big_user alice
	cat "$JFS_MNT/alice/record.json" >/dev/null
	before="$(rss_kb)"
	hold alice 400
	during="$(rss_kb)"
	touch "$JFS_TMP/sync.alice"
	wait "${HELD_PIDS[@]}"
	[ "$(cat "$JFS_TMP/held.alice")" = OK ]
	echo "daemon RSS: $before kB before, $during kB with 400 readers of a $PAD-byte file"
	# one private copy each would be 400 x the file
	[ $((during - before)) -lt $((PAD * 40 / 1024)) ]
}

# many_versions RSS_TOO: 4 x 100 readers of four large versions past
# snapshot_max; with RSS_TOO, the daemon's memory stays bounded too
many_versions() {
	local before during id
	mount_jfs -o snapshot_max=1000000
	HELD_PIDS=()
	for id in alice bob carol dave; do big_user "$id"; done
	before="$(rss_kb)"
	for id in alice bob carol dave; do hold "$id" 100; done
	during="$(rss_kb)"
	grep -E '^jovofs_snapshot_bytes [0-9]+$' "$JFS_MNT/.jovofs/metrics" |
		awk '{ exit !($2 <= 1000000) }'
	# the versions beyond the bound are rendered for each read, and still whole
	for id in alice bob carol dave; do
		[ "$(probe read-size "$JFS_MNT/$id/record.json")" = "$(stat -c %s "$JFS_MNT/$id/record.json")" ]
		touch "$JFS_TMP/sync.$id"
	done
	wait "${HELD_PIDS[@]}"
	for id in alice bob carol dave; do [ "$(cat "$JFS_TMP/held.$id")" = OK ]; done
	echo "daemon RSS: $before kB before, $during kB with 4 x 100 readers"
	[ -z "$1" ] || [ $((during - before)) -lt $((PAD * 40 / 1024)) ]
	grep -q '^jovofs_snapshot_bytes 0$' "$JFS_MNT/.jovofs/metrics"
	umount_jfs
}

@test "readers of more large versions than snapshot_max holds: bounded, every read whole" {
	if [ -n "${JOVOFS_MEASURE_BIN:-}" ]; then
		# the daemon under test, sanitizers and all; then its memory, taken
		# of the plain build: renderings made per read by many threads at
		# once sit in ASan's allocator caches (60 MiB seen in CI)
		many_versions ""
		JOVOFS_BIN=$JOVOFS_MEASURE_BIN many_versions rss
	else
		many_versions rss
	fi
}

# loads: the backend loads the daemon made so far (each one request)
loads() {
	sed -n 's/^jovofs_backend_seconds_count{op="load"} //p' "$JFS_MNT/.jovofs/metrics"
}

@test "lookups of 20,000 names that do not exist: one load each per cache time, no memory kept" {
	[ "$JOVOFS_TEST_BACKEND" != filedb ] || skip "FileDb's listing is complete: no load at all"
	# 40,000 loads through ASan's allocator (redzones, per-thread caches,
	# shadow) add some 20 MiB of its own to the RSS: tests/run.sh names the
	# plain build for figures like this one
	[ -z "${JOVOFS_MEASURE_BIN:-}" ] || JOVOFS_BIN=$JOVOFS_MEASURE_BIN
	mount_jfs -o cache_timeout=300
	local rss0 rss1 l0 l1 l2
	rss0="$(rss_kb)"
	l0="$(loads)"
	[ "$(probe stat-many "$JFS_MNT" nobody- 20000)" = "missing 20000 found 0" ]
	l1="$(loads)"
	[ $((l1 - l0)) -eq 20000 ] || { echo "$((l1 - l0)) loads for 20000 names" >&2; return 1; }
	# the kernel forgets its negative entries: the daemon still knows
	sync
	echo 2 >/proc/sys/vm/drop_caches
	[ "$(probe stat-many "$JFS_MNT" nobody- 20000)" = "missing 20000 found 0" ]
	l2="$(loads)"
	[ "$l2" -eq "$l1" ] || { echo "$((l2 - l1)) loads for names known missing" >&2; return 1; }
	rss1="$(rss_kb)"
	echo "daemon RSS: $rss0 kB before, $rss1 kB after 40,000 lookups of missing names"
	((rss1 - rss0 < 16384))
	# a user made here is found at once
	mkdir "$JFS_MNT/nobody-7"
	[ "$(probe stat-many "$JFS_MNT" nobody- 10)" = "missing 9 found 1" ]
	[ -d "$JFS_MNT/alice" ]
}

@test "scratch files and files being written stay within scratch_max: ENOSPC past it, and statfs says so" {
	mount_jfs -o scratch_max=1000000
	local u="$JFS_MNT/alice"
	# df counts what is left
	[ "$(stat -f -c '%b' "$JFS_MNT")" -eq $((1000000 / 4096)) ]
	head -c 600000 /dev/zero >"$u/tmp1"
	[ "$(stat -f -c '%a' "$JFS_MNT")" -le $(((1000000 - 600000) / 4096)) ]
	run sh -c "head -c 600000 /dev/zero >'$u/tmp2'"
	[ "$status" -ne 0 ]
	[[ "$output" == *"No space left"* ]]
	# an element being written counts too; what failed stores nothing
	# (300 kB: within DynamoDB's 400 KB item limit)
	printf '{"data":{"pad":"%s"}}' "$(head -c 300000 /dev/zero | tr '\0' x)" >"$JFS_TMP/big.json"
	run probe copy-close "$JFS_TMP/big.json" "$u/user.json"
	[[ "$output" == *ENOSPC* ]]
	[ "$(jq -c .data "$u/user.json")" = '{}' ]
	# room again once a scratch file goes
	rm -f "$u/tmp1" "$u/tmp2"
	[ "$(probe copy-close "$JFS_TMP/big.json" "$u/user.json")" = OK ]
	[ "$(stat -f -c '%a' "$JFS_MNT")" -eq $((1000000 / 4096)) ]
}
