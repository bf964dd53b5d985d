#!/usr/bin/env bats
# -o ro: files open and close without a FUSE round trip (no writer exists
# to keep apart), and what is read is still whole, fresh and consistent.

load common

setup() {
	jfs_setup
	seed_json "[$(full_item alice),$(full_item bob),$(item carol '{"k":1}')]"
	make_config "$ALL_ON"
}

requests() { awk '$1 == "jovofs_fuse_requests_total" { print $2 }' "$JFS_MNT/.jovofs/metrics"; }

# every file of every user, read whole
read_all() { find "$JFS_MNT" -path "$JFS_MNT/.jovofs" -prune -o -type f -print0 | xargs -0 cat >/dev/null; }

@test "-o ro: reading every file again costs no FUSE request" {
	mount_jfs -o ro -o cache_timeout=600
	read_all
	read_all
	# the cost of reading the counter itself
	local a b c
	a="$(requests)"
	b="$(requests)"
	read_all
	c="$(requests)"
	local overhead=$((b - a)) used=$((c - b))
	echo "warm walk: $used requests, a counter read: $overhead" >&2
	[ "$used" -le "$overhead" ]
	# the same walk on a read-write mount opens every file through the daemon
	umount_jfs
	mount_jfs -o cache_timeout=600
	read_all
	read_all
	b="$(requests)"
	read_all
	c="$(requests)"
	[ "$((c - b))" -gt "$((overhead + 10))" ]
}

@test "-o ro: content, sizes and grep -r are what a read-write mount shows" {
	mount_jfs
	(cd "$JFS_MNT" && find . -path ./.jovofs -prune -o -type f -print | sort | xargs sha256sum) >"$JFS_TMP/rw"
	umount_jfs
	mount_jfs -o ro
	(cd "$JFS_MNT" && find . -path ./.jovofs -prune -o -type f -print | sort | xargs sha256sum) >"$JFS_TMP/ro"
	diff "$JFS_TMP/rw" "$JFS_TMP/ro"
	for f in "$JFS_MNT"/alice/user.json "$JFS_MNT"/bob/record.json "$JFS_MNT"/carol/createdAt; do
		[ "$(stat -c %s "$f")" = "$(probe read-size "$f")" ]
	done
	[ "$(grep -rl --exclude-dir=.jovofs --include='[0-9].json' newest "$JFS_MNT" | sort)" = "$(printf '%s\n' "$JFS_MNT/alice/history/0.json" "$JFS_MNT/bob/history/0.json")" ]
}

@test "-o ro: a record larger than one read request reads whole" {
	jnode -e 'process.stdout.write(JSON.stringify({data: {v: "A".repeat(150000), w: "B".repeat(100000)}}))' >"$JFS_TMP/big.json"
	# stored through a read-write mount (a DynamoDb item of this size does not fit in curl's argv)
	mount_jfs
	cp "$JFS_TMP/big.json" "$JFS_MNT/alice/user.json"
	umount_jfs
	mount_jfs -o ro
	for _ in 1 2 3; do
		[ "$(jq -r '(.data.v | length | tostring) + ":" + (.data.w | length | tostring)' "$JFS_MNT/alice/user.json")" = 150000:100000 ]
	done
	[ "$(stat -c %s "$JFS_MNT/alice/user.json")" -gt 131072 ]
	[ "$(stat -c %s "$JFS_MNT/alice/user.json")" = "$(probe read-size "$JFS_MNT/alice/user.json")" ]
	[ "$(stat -c %s "$JFS_MNT/alice/record.json")" = "$(probe read-size "$JFS_MNT/alice/record.json")" ]
}

@test "-o ro: .jovofs files are fresh at every read and as long as stat says" {
	mount_jfs -o ro
	local a b
	a="$(requests)"
	cat "$JFS_MNT"/alice/user.json "$JFS_MNT"/bob/user.json >/dev/null
	b="$(requests)"
	[ "$b" -gt "$a" ]
	for f in config metrics errors; do
		[ "$(stat -c %s "$JFS_MNT/.jovofs/$f")" -gt 0 ] || [ "$f" = errors ]
		probe read "$JFS_MNT/.jovofs/$f" >"$JFS_TMP/$f"
		# whole lines: nothing cut at a stale size
		[ ! -s "$JFS_TMP/$f" ] || [ "$(tail -c1 "$JFS_TMP/$f" | od -An -c | tr -d ' ')" = '\n' ]
	done
	jq -e . "$JFS_TMP/config" >/dev/null
}

@test "-o ro: a change behind the mount shows within the cache time" {
	mount_jfs -o ro -o cache_timeout=1
	[ "$(jq -r .data.name "$JFS_MNT/alice/user.json")" = Ada ]
	seed_json "[$(backend_get alice | jq -c '.user.data.name = "Changed" | .updatedAt = "2026-03-01T00:00:00.000Z"')]"
	local v
	for _ in $(seq 100); do
		v="$(jq -r .data.name "$JFS_MNT/alice/user.json")"
		[ "$v" = Changed ] && break
		sleep 0.1
	done
	[ "$v" = Changed ]
	[ "$(cat "$JFS_MNT/alice/updatedAt")" = 2026-03-01T00:00:00.000Z ]
}

@test "-o ro next to a read-write mount of the same store shows its edits" {
	mount_jfs -o cache_timeout=1
	mount_second "$BATS_TEST_TMPDIR/ro" -o ro -o cache_timeout=1
	[ "$(jq -r .data.name "$JFS_MNT2/alice/user.json")" = Ada ]
	echo '{"data":{"name":"Edited"}}' >"$JFS_MNT/alice/user.json"
	mkdir "$JFS_MNT/dave"
	local v
	for _ in $(seq 100); do
		v="$(jq -r .data.name "$JFS_MNT2/alice/user.json")"
		[ "$v" = Edited ] && [ -d "$JFS_MNT2/dave" ] && break
		sleep 0.1
	done
	[ "$v" = Edited ]
	[ "$(jq -c .data "$JFS_MNT2/dave/user.json")" = '{}' ]
	run probe write-close "$JFS_MNT2/alice/user.json" '{"data":{}}'
	assert_errno_any_step EROFS "$output"
	umount_second
}
