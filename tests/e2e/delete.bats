#!/usr/bin/env bats
# DESIGN section 4: deleting is opt-in (-o allow_delete).

load common

setup() {
	jfs_setup
	seed_json "[$(full_item alice), $(full_item bob)]"
	BEFORE="$(stored alice)"
	make_config "$ALL_ON"
	U="$JFS_MNT/alice"
}

check_unchanged() {
	umount_jfs
	diff <(stored alice) <(printf '%s\n' "$BEFORE")
}

@test "without allow_delete: unlinking an element file is EPERM" {
	mount_jfs
	for f in session.json user.json createdAt updatedAt history/1.json; do
		run probe unlink "$U/$f"
		[ "$output" = EPERM ] || { echo "$f: $output" >&2; return 1; }
		[ -e "$U/$f" ]
	done
	grep -q allow_delete "$JFS_LOG"
	check_unchanged
}

@test "without allow_delete: rmdir and rm -rf of a user change nothing" {
	mount_jfs
	run probe rmdir "$U/history"
	[[ "$output" = EPERM || "$output" = ENOTEMPTY ]]
	run probe rmdir "$U"
	[[ "$output" = EPERM || "$output" = ENOTEMPTY ]]
	run rm -rf "$U"
	[ "$status" -ne 0 ]
	[ -d "$U" ]
	run ls "$U"
	assert_equal_str "$output" "$(printf '%s\n' createdAt history record.json session.json updatedAt user.json)"
	[ "$(ls "$U/history" | wc -l)" -eq 3 ]
	check_unchanged
	backend_ids | grep -qx alice
}

@test "without allow_delete: rm of record.json fails" {
	mount_jfs
	run probe unlink "$U/record.json"
	[ "$output" != OK ]
	check_unchanged
}

@test "scratch files can always be removed" {
	mount_jfs
	echo x >"$U/tmp.txt"
	rm "$U/tmp.txt"
	[ ! -e "$U/tmp.txt" ]
	echo x >"$U/history/tmp.txt"
	rm "$U/history/tmp.txt"
	check_unchanged
}

@test "with allow_delete: rm session.json removes only that element" {
	mount_jfs -o allow_delete
	t0="$(iso_now_ms)"
	rm "$U/session.json"
	[ ! -e "$U/session.json" ]
	umount_jfs
	run stored_field alice 'has("session")'
	[ "$output" = false ]
	diff <(stored alice | jq -S 'del(.updatedAt)') <(jq -S 'del(.session, .updatedAt)' <<<"$BEFORE")
}

@test "with allow_delete: rm history/1.json drops that item" {
	mount_jfs -o allow_delete
	rm "$U/history/1.json"
	[ "$(jq -r '.output[0].message' "$U/history/1.json")" = old ]
	umount_jfs
	[ "$(stored_field alice '[.history.items[].output[0].message]')" = '["newest","old","older"]' ]
	[ "$(stored_field alice .user.data.name)" = '"Ada"' ]
}

@test "with allow_delete: rm -r of a user removes the record, others stay" {
	mount_jfs -o allow_delete
	rm -r "$U"
	[ ! -e "$U" ]
	run ls "$JFS_MNT"
	[ "$output" = bob ]
	umount_jfs
	run backend_get alice
	[ "$status" -ne 0 ]
	[ "$(stored_field bob .user.data.name)" = '"Ada"' ]
	[ "$(backend_ids)" = bob ]
}

@test "with allow_delete: a removed user can be created again with mkdir" {
	mount_jfs -o allow_delete
	rm -r "$U"
	mkdir "$U"
	[ "$(jq -c . "$U/user.json")" = '{"data":{}}' ]
	umount_jfs
	[ "$(stored_field alice .user)" = '{"data":{}}' ]
	run stored_field alice 'has("custom")'
	[ "$output" = false ]
}

@test "with allow_delete and ro: EROFS" {
	mount_jfs -o allow_delete,ro
	run probe unlink "$U/session.json"
	[ "$output" = EROFS ]
	check_unchanged
}

@test "with allow_delete: rmdir history/ counts as the mount's own change, like rm of its items" {
	mount_jfs -o allow_delete,cache_timeout=60
	local now
	# read before the removal: a later write starts from what was read
	[ "$(cat "$U/updatedAt")" = "2026-01-02T03:04:05.678Z" ]
	run probe rmdir "$U/history"
	[ "$output" = OK ]
	[ -z "$(ls "$U/history")" ]
	# the mount's own change bumped updatedAt: writing updatedAt now is no conflict
	now="$(enc_iso "$(iso_now_ms)")"
	run probe write-close "$U/updatedAt" "$now"
	[ "$output" = OK ]
	umount_jfs
	[ "$(stored_field alice '.history.items | length')" = 0 ]
	[ "$(stored_field alice .updatedAt)" = "\"$now\"" ]
	[ "$(stored_field alice .user.data.name)" = '"Ada"' ]
}
