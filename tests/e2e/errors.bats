#!/usr/bin/env bats
# DESIGN sections 3 and 4: rejected writes fail from close() (or earlier),
# change nothing, and leave their reason in the log, .jovofs/errors and
# user.jovofs.error.

load common

setup() {
	jfs_setup
	seed_json "[$(full_item alice)]"
	BEFORE="$(stored alice)"
	make_config "$ALL_ON"
	U="$JFS_MNT/alice"
}

check_unchanged() {
	umount_jfs
	diff <(stored alice) <(printf '%s\n' "$BEFORE")
}

# reject FILE CONTENT ERRNO: close() fails with ERRNO, the mount still shows
# the old content
reject() {
	local old
	old="$(cat "$1")"
	run probe write-close "$1" "$2"
	[ "$output" = "$3" ] || { echo "$1 <- '$2': got '$output', want $3" >&2; return 1; }
	assert_equal_str "$(cat "$1")" "$old"
}

@test "invalid JSON: close() is EINVAL, the old content stays" {
	mount_jfs
	reject "$U/user.json" '{"data": {"name": "Grace",}' EINVAL
	check_unchanged
}

@test "invalid JSON: log names the file and line/column; .jovofs/errors and user.jovofs.error tell why" {
	mount_jfs
	echo '{"data":
  {"name": oops}}' >"$U/user.json" # the shell ignores close() errors
	err="$(probe getxattr "$U/user.json" user.jovofs.error)"
	[ -n "$err" ] && [ "$err" != ENODATA ]
	grep -q 'alice/user.json' "$JFS_MNT/.jovofs/errors"
	grep 'alice/user.json' "$JFS_LOG" | grep -qi 'line'
	run getfattr --absolute-names --only-values -n user.jovofs.error "$U/user.json"
	[ "$status" -eq 0 ]
	[ -n "$output" ]
	check_unchanged
}

@test "a valid write after a rejected one succeeds" {
	mount_jfs
	reject "$U/user.json" 'nope' EINVAL
	run probe write-close "$U/user.json" '{"data":{"name":"Fine"}}'
	[ "$output" = OK ]
	umount_jfs
	[ "$(stored_field alice .user.data.name)" = '"Fine"' ]
}

@test "user.json that is not an object with an object 'data' is EINVAL" {
	mount_jfs
	for bad in '[]' '5' '"str"' 'null' '{"data":5}' '{"data":[]}' '{"data":null}' '{"data":"x"}'; do
		reject "$U/user.json" "$bad" EINVAL
	done
	check_unchanged
}

@test "session.json must be an object with an object 'data'" {
	mount_jfs
	for bad in '[]' '{"data":[1]}' 'true'; do
		reject "$U/session.json" "$bad" EINVAL
	done
	check_unchanged
}

@test "a history item must be an object" {
	mount_jfs
	for bad in '[]' '1' '"x"' 'null'; do
		reject "$U/history/0.json" "$bad" EINVAL
	done
	check_unchanged
}

@test "createdAt and updatedAt must be ISO-8601" {
	mount_jfs
	for bad in 'yesterday' '2026-13-45T99:00:00.000Z' '1700000000' '"2026-01-01T00:00:00.000Z"'; do
		reject "$U/createdAt" "$bad" EINVAL
		reject "$U/updatedAt" "$bad" EINVAL
	done
	# an explicit truncation to empty is a write of '' (open(O_TRUNC) alone is
	# not: shells close a dup()ed descriptor before writing, SEMANTICS.md)
	local old
	old="$(cat "$U/createdAt")"
	run truncate -s 0 "$U/createdAt"
	[ "$status" -ne 0 ]
	[ "$(cat "$U/createdAt")" = "$old" ]
	check_unchanged
}

@test "a JSON document with trailing garbage or a NUL byte is EINVAL" {
	mount_jfs
	reject "$U/user.json" '{"data":{}} {"data":{}}' EINVAL
	printf '{"data":{"a":"\0"}}' >"$JFS_TMP/nul.json"
	cp "$JFS_TMP/nul.json" "$U/user.json" || true
	[ "$(jq -r .data.name "$U/user.json")" = Ada ]
	check_unchanged
}

@test "over max_file_size: EFBIG, nothing changes" {
	mount_jfs -o max_file_size=1000
	big="{\"data\":{\"x\":\"$(head -c 2000 /dev/zero | tr '\0' a)\"}}"
	run probe write-close "$U/user.json" "$big"
	[[ "$output" = EFBIG || "$output" = write:EFBIG ]]
	[ "$(jq -r .data.name "$U/user.json")" = Ada ]
	printf '%s' "$big" >"$JFS_TMP/big.json"
	run cp "$JFS_TMP/big.json" "$U/user.json"
	[ "$status" -ne 0 ]
	small='{"data":{"x":"fits"}}'
	run probe write-close "$U/user.json" "$small"
	[ "$output" = OK ]
	umount_jfs
	[ "$(stored_field alice .user.data.x)" = '"fits"' ]
}

@test "the default max_file_size is 1 MiB" {
	mount_jfs
	jnode -e 'process.stdout.write(JSON.stringify({data: {x: "a".repeat(1100000)}}))' >"$JFS_TMP/big.json"
	run probe copy-close "$JFS_TMP/big.json" "$U/user.json"
	[[ "$output" = EFBIG || "$output" = write:EFBIG ]]
	# DynamoDB items stop at 400 KB: there the file that fits is smaller
	local n=900000
	[[ "$JOVOFS_TEST_BACKEND" != dynamodb ]] || n=300000
	jnode -e 'process.stdout.write(JSON.stringify({data: {x: "a".repeat(+process.argv[1])}}))' \
		"$n" >"$JFS_TMP/ok.json"
	cp "$JFS_TMP/ok.json" "$U/user.json"
	umount_jfs
	[ "$(stored_field alice '.user.data.x | length')" = "$n" ]
}

@test "-o ro: every write is EROFS and the store is untouched" {
	mount_jfs -o ro
	run probe write-close "$U/user.json" '{"data":{}}'
	assert_errno_any_step EROFS "$output"
	run probe mkdir "$JFS_MNT/newbie"
	[ "$output" = EROFS ]
	run probe unlink "$U/session.json"
	[ "$output" = EROFS ]
	run probe rmdir "$U"
	[ "$output" = EROFS ]
	run probe write-close "$U/scratch.tmp" 'x'
	assert_errno_any_step EROFS "$output"
	run touch "$U/user.json"
	[ "$status" -ne 0 ]
	[ "$(jq -r .data.name "$U/user.json")" = Ada ]
	check_unchanged
}

@test "-o ro does not modify the FileDb file" {
	require_backend filedb
	sum="$(sha256sum <"$JFS_DB")"
	mt="$(stat -c %Y.%i "$JFS_DB")"
	mount_jfs -o ro
	cat "$U/user.json" "$U/record.json" >/dev/null
	echo '{"data":{}}' >"$U/user.json" 2>/dev/null || true
	umount_jfs
	[ "$(sha256sum <"$JFS_DB")" = "$sum" ]
	[ "$(stat -c %Y.%i "$JFS_DB")" = "$mt" ]
}

@test "writing into a user that does not exist is ENOENT" {
	mount_jfs
	run probe write-close "$JFS_MNT/nobody/user.json" '{"data":{}}'
	[ "$output" = open:ENOENT ]
	umount_jfs
	run backend_get nobody
	[ "$status" -ne 0 ]
}

@test "a history file beyond the stored items cannot be created as an element" {
	mount_jfs
	run probe write-close "$U/history/7.json" '{"output":[]}'
	umount_jfs
	[ "$(stored_field alice '.history.items | length')" = 4 ]
	[ "$(stored_field alice '.history.items[3].output[0].message')" = '"older"' ]
}

@test "a key given twice is EINVAL, naming the key, and stores nothing" {
	mount_jfs
	reject "$U/user.json" '{"data":{"a":1},"data":{"b":2}}' EINVAL
	reject "$U/user.json" '{"data":{"name":"x","name":"y"}}' EINVAL
	reject "$U/session.json" '{"id":"s","data":{},"state":[{"a":1,"a":2}]}' EINVAL
	reject "$U/history/0.json" '{"output":[],"output":[]}' EINVAL
	[[ "$(probe getxattr "$U/user.json" user.jovofs.error)" == *duplicate*name* ]]
	grep -q 'duplicate.*data' "$JFS_MNT/.jovofs/errors"
	check_unchanged
}

@test "an empty write (O_TRUNC, nothing written) stores nothing and says so" {
	mount_jfs
	local old
	old="$(cat "$U/user.json")"
	: >"$U/user.json"
	assert_equal_str "$(cat "$U/user.json")" "$old"
	[ "$(probe getxattr "$U/user.json" user.jovofs.error)" = "empty write: nothing stored" ]
	grep -q "alice/user.json.*empty write: nothing stored" "$JFS_MNT/.jovofs/errors"
	grep -q "empty write" "$JFS_LOG"
	cp /dev/null "$U/history/1.json"
	[ "$(probe getxattr "$U/history/1.json" user.jovofs.error)" = "empty write: nothing stored" ]
	# a later write clears it
	echo '{"data":{"name":"Ada"}}' >"$U/user.json"
	[ "$(probe getxattr "$U/user.json" user.jovofs.error)" = ENODATA ]
	# the classic jq-into-itself: readers keep the stored content until the close, so it works
	jq '.data.name = "Grace"' "$U/user.json" >"$U/user.json"
	[ "$(jq -r .data.name "$U/user.json")" = Grace ]
	[ "$(probe getxattr "$U/user.json" user.jovofs.error)" = ENODATA ]
	umount_jfs
	[ "$(stored_field alice .user.data.name)" = '"Grace"' ]
	[ "$(stored_field alice '.history.items | length')" = 4 ]
}
