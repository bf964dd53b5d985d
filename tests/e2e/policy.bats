#!/usr/bin/env bats
# DESIGN section 3: storedElements decide what is shown and written.

load common

ago() { enc_iso $(($(iso_now_ms) - $1 * 1000)); }

@test "Jovo's defaults: user, createdAt, updatedAt shown; session and history not" {
	seed_json "[$(full_item alice)]"
	mount_jfs
	run ls "$JFS_MNT/alice"
	assert_equal_str "$output" "$(printf '%s\n' createdAt record.json updatedAt user.json)"
	run probe read "$JFS_MNT/alice/session.json"
	[ "$output" = open:ENOENT ]
	run probe stat-size "$JFS_MNT/alice/history"
	[ "$output" = ENOENT ]
}

@test "a disabled element is absent but stays in record.json" {
	seed_json "[$(full_item alice)]"
	make_config '{"user":false,"session":true,"history":false,"createdAt":false,"updatedAt":{"enabled":false}}'
	mount_jfs
	run ls "$JFS_MNT/alice"
	assert_equal_str "$output" "$(printf '%s\n' record.json session.json)"
	[ "$(jq -r .user.data.name "$JFS_MNT/alice/record.json")" = Ada ]
	[ "$(jq -r .createdAt "$JFS_MNT/alice/record.json")" = 2025-06-30T05:50:04.034Z ]
}

@test "an element object without 'enabled' is enabled" {
	seed_json "[$(full_item alice)]"
	make_config '{"session":{"expiresAfterSeconds":900},"history":{"size":2}}'
	mount_jfs
	[ -f "$JFS_MNT/alice/session.json" ]
	run ls "$JFS_MNT/alice/history"
	assert_equal_str "$output" "$(printf '%s\n' 0.json 1.json)"
}

@test "an element with enabled:false and other keys is disabled" {
	seed_json "[$(full_item alice)]"
	make_config '{"session":{"enabled":false,"expiresAfterSeconds":900},"history":{"enabled":false,"size":2}}'
	mount_jfs
	[ ! -e "$JFS_MNT/alice/session.json" ]
	[ ! -e "$JFS_MNT/alice/history" ]
}

@test "an expired session has no session.json; record.json still shows it" {
	seed_json "[$(full_item alice 2026-01-02T03:04:05.678Z "$(ago 1000)")]"
	make_config '{"session":{"expiresAfterSeconds":900}}'
	mount_jfs
	run probe read "$JFS_MNT/alice/session.json"
	[ "$output" = open:ENOENT ]
	run ls "$JFS_MNT/alice"
	[[ "$output" != *session.json* ]]
	[ "$(jq -r .session.id "$JFS_MNT/alice/record.json")" = s-1 ]
}

@test "a session younger than expiresAfterSeconds is shown" {
	seed_json "[$(full_item alice 2026-01-02T03:04:05.678Z "$(ago 100)")]"
	make_config '{"session":{"expiresAfterSeconds":900}}'
	mount_jfs
	[ "$(jq -r .id "$JFS_MNT/alice/session.json")" = s-1 ]
}

@test "session expiry defaults to 900 s, and expiresAfterSeconds 0 counts as 900" {
	seed_json "[$(full_item young 2026-01-02T03:04:05.678Z "$(ago 600)"), $(full_item old 2026-01-02T03:04:05.678Z "$(ago 1000)")]"
	make_config '{"session":{"expiresAfterSeconds":0}}'
	mount_jfs
	[ -f "$JFS_MNT/young/session.json" ]
	[ ! -e "$JFS_MNT/old/session.json" ]
	umount_jfs
	make_config '{"session":true}'
	mount_jfs
	[ -f "$JFS_MNT/young/session.json" ]
	[ ! -e "$JFS_MNT/old/session.json" ]
}

@test "a short expiresAfterSeconds expires a session" {
	seed_json "[$(full_item alice 2026-01-02T03:04:05.678Z "$(ago 100)")]"
	make_config '{"session":{"expiresAfterSeconds":30}}'
	mount_jfs
	[ ! -e "$JFS_MNT/alice/session.json" ]
}

@test "a session without a valid updatedAt never expires" {
	seed_json "[$(full_item alice)]"
	seed_json "[$(backend_get alice | jq -c 'del(.session.updatedAt)')]"
	seed_json "[$(full_item bob | jq -c '.id = "bob" | .session.updatedAt = "not a date"')]"
	make_config '{"session":true}'
	mount_jfs
	[ -f "$JFS_MNT/alice/session.json" ]
	[ -f "$JFS_MNT/bob/session.json" ]
}

@test "writing session.json of an expired session starts a new one, with a fresh updatedAt" {
	seed_json "[$(full_item alice 2026-01-02T03:04:05.678Z "$(ago 5000)")]"
	make_config '{"session":true}'
	mount_jfs
	t0="$(iso_now_ms)"
	run probe write-close "$JFS_MNT/alice/session.json" '{"id":"s-2","data":{"fresh":true},"state":[]}'
	[ "$output" = OK ]
	[ "$(jq -r .id "$JFS_MNT/alice/session.json")" = s-2 ]
	umount_jfs # FileDb saves after write_delay: read the store once it is written
	[ "$(stored_field alice .session.data.fresh)" = true ]
	su="$(stored_field alice .session.updatedAt | jq -r .)"
	(($(iso_ms "$su") >= t0 - 1000))
	assert_updated_since alice "$t0"
}

@test "history.size defaults to 3 and limits the files shown" {
	seed_json "[$(full_item alice | jq -c '.history.items += [{output: "e"}, {output: "f"}]')]"
	make_config '{"history":true}'
	mount_jfs
	[ "$(ls "$JFS_MNT/alice/history" | wc -l)" -eq 3 ]
	umount_jfs
	make_config '{"history":{"enabled":true,"size":5}}'
	mount_jfs
	[ "$(ls "$JFS_MNT/alice/history" | wc -l)" -eq 5 ]
	umount_jfs
	make_config '{"history":{"enabled":true,"size":1}}'
	mount_jfs
	run ls "$JFS_MNT/alice/history"
	[ "$output" = 0.json ]
}

@test "a history write never stores more than history.size items" {
	seed_json "[$(full_item alice | jq -c '.history.items += [{output: "e"}, {output: "f"}]')]"
	make_config '{"history":{"enabled":true,"size":3}}'
	mount_jfs
	run probe write-close "$JFS_MNT/alice/history/0.json" '{"output":[{"message":"edited"}],"nlu":{"intent":"A"}}'
	[ "$output" = OK ]
	umount_jfs
	[ "$(stored_field alice '.history.items | length')" -le 3 ]
	[ "$(stored_field alice '.history.items[0].output[0].message')" = '"edited"' ]
	[ "$(stored_field alice '.history.items[1].output[0].message')" = '"middle"' ]
}

@test "history keys set to false are hidden, and kept on a history write" {
	seed_json "[$(full_item alice | jq -c '.history.items[0].request = {secret: 1}')]"
	make_config '{"history":{"enabled":true,"size":3,"nlu":false,"request":false,"output":true}}'
	mount_jfs
	run jq -c 'keys' "$JFS_MNT/alice/history/0.json"
	[ "$output" = '["output"]' ]
	run probe write-close "$JFS_MNT/alice/history/0.json" '{"output":[{"message":"edited"}]}'
	[ "$output" = OK ]
	umount_jfs
	[ "$(stored_field alice '.history.items[0]')" = '{"output":[{"message":"edited"}],"nlu":{"intent":"A"},"request":{"secret":1}}' ] ||
		[ "$(stored_field alice '.history.items[0] | {output, nlu, request}')" = '{"output":[{"message":"edited"}],"nlu":{"intent":"A"},"request":{"secret":1}}' ]
}

@test "Jovo's 'updateAt' spelling is accepted, with a warning" {
	seed_json "[$(full_item alice)]"
	make_config '{"updateAt":false}'
	mount_jfs
	[ ! -e "$JFS_MNT/alice/updatedAt" ]
	grep -q updateAt "$JFS_LOG"
}

@test "an unknown storedElements key is warned about by name" {
	seed_json "[$(full_item alice)]"
	make_config '{"usr":true,"user":true}'
	mount_jfs
	grep -q "usr" "$JFS_LOG"
}

@test "an unknown top-level config key is warned about by name" {
	make_config '{}' '{"storedElementz":{"user":true}}'
	mount_jfs
	grep -q "storedElementz" "$JFS_LOG"
}

@test "a disabled element is not written: creating it is EPERM and changes nothing" {
	seed_json "[$(full_item alice)]"
	make_config '{"session":false}'
	mount_jfs
	before="$(stored alice)"
	run probe write-close "$JFS_MNT/alice/session.json" '{"id":"s-9","data":{}}'
	assert_errno_any_step EPERM "$output"
	umount_jfs
	[ "$(stored alice)" = "$before" ]
}

@test "a write does not delete elements that are not shown" {
	seed_json "[$(full_item alice)]"
	make_config '{"user":true,"session":false,"history":false}'
	mount_jfs
	run probe write-close "$JFS_MNT/alice/user.json" '{"data":{"name":"Grace"}}'
	[ "$output" = OK ]
	umount_jfs
	[ "$(stored_field alice .user.data.name)" = '"Grace"' ]
	[ "$(stored_field alice .session.id)" = '"s-1"' ]
	[ "$(stored_field alice '.history.items | length')" = 4 ]
	[ "$(stored_field alice .custom.nested.deep)" = true ]
}

@test "with updatedAt disabled a write does not set it" {
	seed_json "[$(full_item alice)]"
	make_config '{"updatedAt":false}'
	mount_jfs
	run probe write-close "$JFS_MNT/alice/user.json" '{"data":{"name":"Grace"}}'
	[ "$output" = OK ]
	umount_jfs
	[ "$(stored_field alice .user.data.name)" = '"Grace"' ]
	[ "$(stored_field alice .updatedAt)" = '"2026-01-02T03:04:05.678Z"' ]
}
