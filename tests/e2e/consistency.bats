#!/usr/bin/env bats
# DESIGN section 5: conditional writes, conflicts, durability, caching.

load common

setup() {
	jfs_setup
	seed_json "[$(full_item alice)]"
	make_config "$ALL_ON"
	U="$JFS_MNT/alice"
}

# Change the stored item behind the mount's back: a jq filter on it, and
# a new updatedAt, the way a Jovo app's save would.
behind_back() {
	local now
	now="$(enc_iso "$(iso_now_ms)")"
	seed_json "[$(backend_get alice | jq -c --arg u "$now" "$1 | .updatedAt = \$u")]"
}

# Start an editor that holds FILE open, has read it, and writes CONTENT
# when told; its result (close()'s errno name) lands in $JFS_TMP/held.out
start_held_edit() {
	rm -f "$JFS_SYNC" "$JFS_SYNC.ready"
	probe hold-edit "$1" "$2" "$JFS_SYNC" >"$JFS_TMP/held.out" 2>&1 3>&- &
	HELD_PID=$!
	for _ in $(seq 500); do [ -e "$JFS_SYNC.ready" ] && return 0; sleep 0.01; done
	echo "hold-edit did not start" >&2
	return 1
}

# sets $output to the editor's close() result (not via run: wait needs
# this shell)
finish_held_edit() {
	touch "$JFS_SYNC"
	wait "$HELD_PID"
	output="$(cat "$JFS_TMP/held.out")"
}

@test "the edited element changed behind the mount: ESTALE, kept in .jovofs/conflicts" {
	mount_jfs -o cache_timeout=60
	start_held_edit "$U/user.json" '{"data":{"name":"FromMount"}}'
	behind_back '.user.data.name = "FromApp"'
	finish_held_edit
	[ "$output" = ESTALE ]
	grep -rl FromMount "$JFS_MNT/.jovofs/conflicts/" >/dev/null
	grep -qi conflict "$JFS_LOG"
	umount_jfs
	[ "$(stored_field alice .user.data.name)" = '"FromApp"' ]
}

@test "the edited element changed behind the mount, shell write after a read: ESTALE" {
	mount_jfs -o cache_timeout=60
	[ "$(jq -r .data.name "$U/user.json")" = Ada ]
	behind_back '.user.data.name = "FromApp"'
	run probe write-close "$U/user.json" '{"data":{"name":"FromMount"}}'
	[ "$output" = ESTALE ]
	[ -n "$(probe getxattr "$U/user.json" user.jovofs.error)" ]
	umount_jfs
	[ "$(stored_field alice .user.data.name)" = '"FromApp"' ]
}

@test "another element changed behind the mount: the write succeeds, both changes kept" {
	mount_jfs -o cache_timeout=60
	start_held_edit "$U/user.json" '{"data":{"name":"FromMount"}}'
	behind_back '.session.data.step = 99 | .appKey = "new"'
	finish_held_edit
	[ "$output" = OK ] || { echo "close(): $output" >&2; return 1; }
	umount_jfs
	[ "$(stored_field alice .user.data.name)" = '"FromMount"' ]
	[ "$(stored_field alice .session.data.step)" = 99 ]
	[ "$(stored_field alice .appKey)" = '"new"' ]
}

@test "another user changed behind the mount: both changes kept" {
	seed_json "[$(full_item bob)]"
	mount_jfs -o cache_timeout=60
	cat "$U/user.json" "$JFS_MNT/bob/user.json" >/dev/null
	seed_json "[$(backend_get bob | jq -c '.user.data.name = "BobByApp"')]"
	run probe write-close "$U/user.json" '{"data":{"name":"AliceByMount"}}'
	[ "$output" = OK ]
	umount_jfs
	[ "$(stored_field alice .user.data.name)" = '"AliceByMount"' ]
	[ "$(stored_field bob .user.data.name)" = '"BobByApp"' ]
}

@test "a user added behind the mount survives a write through the mount" {
	mount_jfs -o cache_timeout=60
	cat "$U/user.json" >/dev/null
	seed_json "[$(item newcomer '{"k":1}')]"
	echo '{"data":{"name":"X"}}' >"$U/user.json"
	umount_jfs
	[ "$(stored_field newcomer .user.data.k)" = 1 ]
	[ "$(stored_field alice .user.data.name)" = '"X"' ]
}

@test "a write through the mount is visible at once, even with a long cache time" {
	mount_jfs -o cache_timeout=60
	cat "$U/user.json" "$U/updatedAt" "$U/record.json" >/dev/null
	stat "$U" "$U/user.json" >/dev/null
	echo '{"data":{"v":1}}' >"$U/user.json"
	[ "$(jq -c .data "$U/user.json")" = '{"v":1}' ]
	[ "$(jq -c .user.data "$U/record.json")" = '{"v":1}' ]
	[ "$(cat "$U/updatedAt")" != 2026-01-02T03:04:05.678Z ]
	[ "$(stat -c %s "$U/user.json")" = "$(probe read-size "$U/user.json")" ]
	echo '{"data":{"v":22}}' >"$U/user.json"
	[ "$(jq -c .data "$U/user.json")" = '{"v":22}' ]
}

@test "readers see the old or the new content, never a mix" {
	mount_jfs
	jnode -e 'process.stdout.write(JSON.stringify({data: {v: "A".repeat(200000)}}))' >"$JFS_TMP/a.json"
	jnode -e 'process.stdout.write(JSON.stringify({data: {v: "B".repeat(150000)}}))' >"$JFS_TMP/b.json"
	(
		for i in $(seq 20); do
			cp "$JFS_TMP/a.json" "$U/user.json"
			cp "$JFS_TMP/b.json" "$U/user.json"
		done
	) 3>&- &
	wpid=$!
	local n=0 bad=0
	while kill -0 "$wpid" 2>/dev/null; do
		v="$(jq -r 'if .data.v then (.data.v | .[0:1] + ":" + (length | tostring)) else .data.name end' "$U/user.json" 2>/dev/null)" || v=invalid
		case "$v" in
		A:200000 | B:150000 | "Ada"*) ;;
		*) bad=$((bad + 1)); echo "read '$v'" >&2 ;;
		esac
		n=$((n + 1))
	done
	wait "$wpid"
	[ "$bad" -eq 0 ]
	[ "$n" -gt 3 ]
}

@test "readers of a small file rewritten in a loop see whole versions" {
	# one page each: the page cache path, where the kernel takes the size
	# from one request and the bytes from another
	mount_jfs
	local short long
	short='{"data":{"v":"s"}}'
	long="{\"data\":{\"v\":\"$(head -c 3000 /dev/zero | tr '\0' L)\"}}"
	(
		end=$((SECONDS + 4))
		while ((SECONDS < end)); do
			printf '%s' "$short" >"$U/user.json"
			printf '%s' "$long" >"$U/user.json"
		done
	) 3>&- &
	wpid=$!
	local bad=0 n=0
	while kill -0 "$wpid" 2>/dev/null; do
		python3 - "$U/user.json" <<'PY' || bad=$((bad + 1))
import json, sys
for _ in range(100):
    s = open(sys.argv[1], encoding="utf-8", errors="replace").read()
    try:
        v = json.loads(s)["data"].get("v")
    except Exception:
        print("read %d bytes: %r ... %r" % (len(s), s[:40], s[-20:]), file=sys.stderr)
        sys.exit(1)
    if v not in ("s", "L" * 3000, None):
        print("read an unexpected value", file=sys.stderr)
        sys.exit(1)
PY
		n=$((n + 1))
	done
	wait "$wpid"
	[ "$bad" -eq 0 ]
	[ "$n" -gt 3 ]
}

@test "fsync() returns only when the edit is stored" {
	mount_jfs -o write_delay=5000
	run probe write-fsync "$U/user.json" '{"data":{"name":"Synced"}}'
	[ "$output" = OK ]
	[ "$(stored_field alice .user.data.name)" = '"Synced"' ]
}

@test "unmount waits for pending writes" {
	mount_jfs -o write_delay=3000
	run probe write-close "$U/user.json" '{"data":{"name":"Pending"}}'
	[ "$output" = OK ]
	umount_jfs
	[ "$(stored_field alice .user.data.name)" = '"Pending"' ]
}

@test "a write is stored within the write delay without fsync" {
	mount_jfs -o write_delay=100
	echo '{"data":{"name":"Soon"}}' >"$U/user.json"
	for _ in $(seq 50); do
		[ "$(stored_field alice .user.data.name)" = '"Soon"' ] && return 0
		sleep 0.1
	done
	echo "not stored after 5 s" >&2
	return 1
}

@test "a crashed daemon's stale mount is cleaned up by the next mount" {
	mount_jfs
	cat "$U/user.json" >/dev/null
	kill -9 "$JFS_PID"
	wait "$JFS_PID" 2>/dev/null || true
	JFS_PID=
	run stat "$JFS_MNT"
	[ "$status" -ne 0 ] # Transport endpoint is not connected
	jfs_is_mounted
	mount_jfs
	[ "$(jq -r .data.name "$U/user.json")" = Ada ]
	[ "$(awk -v m="$JFS_MNT" '$2 == m' /proc/self/mounts | wc -l)" -eq 1 ]
}

@test "after ESTALE the next read shows what is stored now: two mounts editing one user" {
	mount_jfs -o cache_timeout=60
	mount_second "$BATS_TEST_TMPDIR/mnt2" -o cache_timeout=60
	local last=Ada i m f r n estale=0
	[ "$(jq -r .data.name "$JFS_MNT/alice/user.json")" = Ada ]
	[ "$(jq -r .data.name "$JFS_MNT2/alice/user.json")" = Ada ]
	# the mounts take turns; each writes what it last read, changed (fsync: stored at once)
	for i in 1 2 3 4 5; do
		for m in b a; do
			f="$JFS_MNT/alice/user.json"
			[ "$m" = a ] || f="$JFS_MNT2/alice/user.json"
			r="$(probe write-fsync "$f" "{\"data\":{\"name\":\"$m$i\"}}" 2>/dev/null)"
			if [ "$r" = ESTALE ]; then
				estale=$((estale + 1))
				# the re-read shows the other mount's write, so re-applying works at once
				n="$(jq -r .data.name "$f")"
				[ "$n" = "$last" ] || {
					echo "round $i, mount $m: a re-read after ESTALE shows '$n', stored is '$last'" >&2
					return 1
				}
				r="$(probe write-fsync "$f" "{\"data\":{\"name\":\"$m$i\"}}" 2>/dev/null)"
			fi
			[ "$r" = OK ] || { echo "round $i, mount $m: $r" >&2; return 1; }
			# read back: the version this mount's next turn starts from
			[ "$(jq -r .data.name "$f")" = "$m$i" ]
			last="$m$i"
		done
	done
	# every turn but the very first met the other mount's write
	[ "$estale" -eq 9 ]
	umount_second
	umount_jfs
	[ "$(stored_field alice .user.data.name)" = '"a5"' ]
}
