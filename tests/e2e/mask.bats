#!/usr/bin/env bats
# Masked read-only views: -o ro,mask=PATH[:PATH...] (README, "Masked views").

load common

MASK='user.data.email:session.data.phone:history.items.*.input.text:createdAt'

setup() {
	jfs_setup
	seed_json "[$(person alice a@example.org +4930123), $(person bob b@example.org +4930999), $(person carol a@example.org +4930123)]"
	make_config "$ALL_ON"
}

# A user whose email, phone and history texts are personal. Its updatedAt
# is long past (the session's is now): a masked one must not become the
# mount's start time by chance within the same second.
person() {
	local now
	now="$(enc_iso "$(iso_now_ms)")"
	jq -cn --arg id "$1" --arg mail "$2" --arg phone "$3" --arg now "$now" '{
		id: $id,
		user: {data: {email: $mail, plan: "pro"}},
		session: {id: "s", data: {phone: $phone, step: 2}, state: [],
			createdAt: $now, updatedAt: $now},
		history: {items: [{input: {text: ("I am " + $id)}, output: [{text: "hi"}]},
			{input: {text: $mail}}]},
		createdAt: "2025-06-30T05:50:04.034Z", updatedAt: "2026-01-02T03:04:05.678Z"}'
}

# The pseudonym of the JSON value $2 under key $1, computed here (Python's hmac).
pseudonym() {
	python3 -c '
import hashlib, hmac, sys
print("mask:" + hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest()[:16])' "$1" "$2"
}

@test "masked values show as pseudonyms in every file; other values as they are; sizes exact" {
	mount_jfs -o ro -o "mask=$MASK"
	for u in alice bob carol; do
		[[ "$(jq -r .data.email "$JFS_MNT/$u/user.json")" =~ ^mask:[0-9a-f]{16}$ ]]
		[ "$(jq -r .data.plan "$JFS_MNT/$u/user.json")" = pro ]
		[[ "$(jq -r .data.phone "$JFS_MNT/$u/session.json")" =~ ^mask:[0-9a-f]{16}$ ]]
		[ "$(jq -r .data.step "$JFS_MNT/$u/session.json")" = 2 ]
		[[ "$(jq -r .input.text "$JFS_MNT/$u/history/0.json")" =~ ^mask: ]]
		[ "$(jq -r '.output[0].text' "$JFS_MNT/$u/history/0.json")" = hi ]
		[[ "$(jq -r .input.text "$JFS_MNT/$u/history/1.json")" =~ ^mask: ]]
		[[ "$(cat "$JFS_MNT/$u/createdAt")" =~ ^mask:[0-9a-f]{16}$ ]]
		[ "$(jq -r .user.data.email "$JFS_MNT/$u/record.json")" = "$(jq -r .data.email "$JFS_MNT/$u/user.json")" ]
		for f in user.json session.json history/0.json history/1.json record.json createdAt; do
			[ "$(stat -c %s "$JFS_MNT/$u/$f")" -eq "$(wc -c <"$JFS_MNT/$u/$f")" ]
		done
	done
	# grep finds none of the masked values anywhere in the mount
	run grep -r -e example.org -e 4930 -e "I am" -e 2025-06-30 "$JFS_MNT"
	[ "$status" -eq 1 ]
	# equal values, equal pseudonyms (joins and counts work); others differ
	[ "$(jq -r .data.email "$JFS_MNT/alice/user.json")" = "$(jq -r .data.email "$JFS_MNT/carol/user.json")" ]
	[ "$(jq -r .data.email "$JFS_MNT/alice/user.json")" != "$(jq -r .data.email "$JFS_MNT/bob/user.json")" ]
	# the email in a history text gets the email's pseudonym: the value decides
	[ "$(jq -r .input.text "$JFS_MNT/alice/history/1.json")" = "$(jq -r .data.email "$JFS_MNT/alice/user.json")" ]
	[ "$(jq -c .mount.mask.paths "$JFS_MNT/.jovofs/config")" = "$(jq -cn --arg m "$MASK" '$m | split(":")')" ]
}

@test "the key: random, kept 0600 beside the journal, so pseudonyms stay across mounts" {
	mount_jfs -o ro -o "mask=$MASK"
	first="$(jq -r .data.email "$JFS_MNT/alice/user.json")"
	umount_jfs
	key="${JFS_JOURNAL%.journal}.mask-key"
	[ "$(stat -c %a "$key")" = 600 ]
	mount_jfs -o ro -o "mask=$MASK"
	[ "$(jq -r .data.email "$JFS_MNT/alice/user.json")" = "$first" ]
	[ "$(jq -r .mount.mask.keyFrom "$JFS_MNT/.jovofs/config")" = file ]
	umount_jfs
	# a key others may read is refused
	chmod 644 "$key"
	run mount_jfs -o ro -o "mask=$MASK"
	[ "$status" -ne 0 ]
	grep -q "readable by others" "$JFS_LOG"
}

@test "mask.key from the config: HMAC-SHA-256 of the value's JSON, the key never shown" {
	jq '. + {mask: {key: "a-long-enough-secret-key"}}' "$JFS_CONFIG" >"$JFS_TMP/c.json"
	mv "$JFS_TMP/c.json" "$JFS_CONFIG"
	chmod 600 "$JFS_CONFIG"
	mount_jfs -o ro -o "mask=$MASK"
	[ "$(jq -r .data.email "$JFS_MNT/alice/user.json")" = "$(pseudonym a-long-enough-secret-key '"a@example.org"')" ]
	[ "$(cat "$JFS_MNT/alice/createdAt")" = "$(pseudonym a-long-enough-secret-key '"2025-06-30T05:50:04.034Z"')" ]
	run grep -r a-long-enough-secret-key "$JFS_MNT/.jovofs" "$JFS_LOG"
	[ "$status" -eq 1 ]
	[ "$(jq -r .mount.mask.keyFrom "$JFS_MNT/.jovofs/config")" = config ]
	[ ! -e "${JFS_JOURNAL%.journal}.mask-key" ]
}

@test "a read-write mount with a mask is refused, naming the problem" {
	run mount_jfs -o "mask=$MASK"
	[ "$status" -ne 0 ]
	grep -q "mask is for read-only mounts: add -o ro" "$JFS_LOG"
	run mount_jfs -o ro -o "mask=user..x"
	[ "$status" -ne 0 ]
	grep -q "mask path 'user..x'" "$JFS_LOG"
}

@test "the journal a masked view shows is masked too; a masked updatedAt is no mtime" {
	mount_jfs
	echo '{"data":{"email":"new@example.org","plan":"pro"}}' >"$JFS_MNT/alice/user.json"
	umount_jfs
	mount_jfs -o ro -o "mask=$MASK:updatedAt"
	[ "$(jq -r .element "$JFS_MNT/.jovofs/journal")" = user ]
	[[ "$(jq -r .after.data.email "$JFS_MNT/.jovofs/journal")" =~ ^mask: ]]
	[[ "$(jq -r .before.data.email "$JFS_MNT/.jovofs/journal")" =~ ^mask: ]]
	run grep -e example.org "$JFS_MNT/.jovofs/journal"
	[ "$status" -eq 1 ]
	[[ "$(cat "$JFS_MNT/bob/updatedAt")" =~ ^mask: ]]
	upd="$(stored_field bob .updatedAt | jq -r .)"
	[ "$(stat -c %Y "$JFS_MNT/bob")" != "$(date -d "$upd" +%s)" ]
}

@test "find views on a masked view: no filter on a masked value, no masked time as mtime" {
	mount_jfs -o ro -o "mask=$MASK:updatedAt"
	# which users match would tell the value: refused, saying why
	run ls "$JFS_MNT/.jovofs/find/user.data.email=a@example.org"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Permission denied"* ]]
	grep -q "'user.data.email' is masked on this mount" "$JFS_MNT/.jovofs/errors"
	# a path holding masked values, and one under a * of the mask
	run ls "$JFS_MNT/.jovofs/find/user.data~example"
	[ "$status" -ne 0 ]
	run ls "$JFS_MNT/.jovofs/find/history.items.1.input.text=a@example.org"
	[ "$status" -ne 0 ]
	run ls "$JFS_MNT/.jovofs/find/updatedAt>2000-01-01"
	[ "$status" -ne 0 ]
	# other paths work as on any mount
	[ "$(ls "$JFS_MNT/.jovofs/find/user.data.plan=pro" | tr '\n' ' ')" = "alice bob carol " ]
	[ "$(ls -L "$JFS_MNT/.jovofs/find/user.data.plan=pro/bob/user.json")" ]
	upd="$(stored_field bob .updatedAt | jq -r .)"
	[ "$(stat -c %Y "$JFS_MNT/bob")" != "$(date -d "$upd" +%s)" ]
}

# Users whose ids are as personal as their data: -o mask_ids hides them.
seed_raw_ids() {
	seed_json "[$(person alice-raw-id r1@example.org +4930111), $(person bob-raw-id r2@example.org +4930222)]"
}

@test "mask_ids: user directories are the ids' pseudonyms, the same count, stable across mounts" {
	seed_raw_ids
	jq '. + {mask: {key: "a-long-enough-secret-key"}}' "$JFS_CONFIG" >"$JFS_TMP/c.json"
	mv "$JFS_TMP/c.json" "$JFS_CONFIG"
	chmod 600 "$JFS_CONFIG"
	mount_jfs -o ro
	n="$(ls "$JFS_MNT" | wc -l)"
	[ -d "$JFS_MNT/alice-raw-id" ]
	umount_jfs
	mount_jfs -o ro -o "mask=$MASK" -o mask_ids
	names="$(ls "$JFS_MNT")"
	[ "$(wc -l <<<"$names")" -eq "$n" ]
	run grep -vE '^mask:[0-9a-f]{16}$' <<<"$names"
	[ "$status" -eq 1 ]
	# the pseudonym of the id as a JSON string, as any masked value
	alice="$(pseudonym a-long-enough-secret-key '"alice-raw-id"')"
	[ -d "$JFS_MNT/$alice" ]
	[[ "$(jq -r .data.email "$JFS_MNT/$alice/user.json")" =~ ^mask:[0-9a-f]{16}$ ]]
	[ "$(jq -r .data.email "$JFS_MNT/$alice/user.json")" = "$(pseudonym a-long-enough-secret-key '"r1@example.org"')" ]
	[ "$(jq -r .data.plan "$JFS_MNT/$alice/user.json")" = pro ]
	[ "$(jq -r .id "$JFS_MNT/$alice/record.json")" = "$alice" ]
	[ "$(getfattr --only-values -n user.jovofs.id "$JFS_MNT/$alice")" = "$alice" ]
	[ "$(getfattr --only-values -n user.jovofs.id "$JFS_MNT/$alice/user.json")" = "$alice" ]
	[ "$(jq -r .mount.mask.ids "$JFS_MNT/.jovofs/config")" = true ]
	# a raw id names nothing; nor does a pseudonym of no user
	[ ! -e "$JFS_MNT/alice-raw-id" ]
	[ ! -e "$JFS_MNT/$(pseudonym a-long-enough-secret-key '"nobody-raw-id"')" ]
	run grep -r -e raw-id -e example.org "$JFS_MNT"
	[ "$status" -eq 1 ]
	umount_jfs
	mount_jfs -o ro -o "mask=$MASK" -o mask_ids
	[ "$(ls "$JFS_MNT")" = "$names" ]
	# a lookup by name before any listing: the name is found all the same
	umount_jfs
	mount_jfs -o ro -o "mask=$MASK" -o mask_ids
	[ "$(jq -r .data.plan "$JFS_MNT/$alice/user.json")" = pro ]
}

@test "mask_ids: no raw id in the journal, find views or anywhere else in the mount" {
	seed_raw_ids
	mount_jfs
	echo '{"data":{"email":"new@example.org","plan":"max"}}' >"$JFS_MNT/alice-raw-id/user.json"
	umount_jfs
	grep -q alice-raw-id "$JFS_JOURNAL"
	mount_jfs -o ro -o "mask=$MASK" -o mask_ids
	line="$(grep '"element":"user"' "$JFS_MNT/.jovofs/journal" | tail -1)"
	[[ "$(jq -r .user <<<"$line")" =~ ^mask:[0-9a-f]{16}$ ]]
	[ -d "$JFS_MNT/$(jq -r .user <<<"$line")" ]
	[ "$(jq -r .data.plan "$JFS_MNT/$(jq -r .user <<<"$line")/user.json")" = max ]
	[ "$(jq -r .after.data.plan <<<"$line")" = max ]
	# find views link to the pseudonyms
	for l in "$JFS_MNT/.jovofs/find/user.data.plan=max"/*; do
		[[ "$(basename "$l")" =~ ^mask:[0-9a-f]{16}$ ]]
		[[ "$(readlink "$l")" == */"$(basename "$l")" ]]
	done
	[ "$(ls "$JFS_MNT/.jovofs/find/user.data.plan=max")" = "$(jq -r .user <<<"$line")" ]
	run grep -r -e raw-id -e example.org "$JFS_MNT"
	[ "$status" -eq 1 ]
	# which users match a condition on the id would tell it
	run ls "$JFS_MNT/.jovofs/find/id~raw"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Permission denied"* ]]
	grep -q "'id' is masked on this mount" "$JFS_MNT/.jovofs/errors"
}

@test "mask_ids without a mask is refused, naming the problem" {
	run mount_jfs -o ro -o mask_ids
	[ "$status" -ne 0 ]
	grep -q -- "-o mask_ids needs -o mask=PATH" "$JFS_LOG"
	run mount_jfs -o mask_ids -o "mask=$MASK"
	[ "$status" -ne 0 ]
	grep -q "mask is for read-only mounts: add -o ro" "$JFS_LOG"
}

@test "mask_ids: a store's error that names an id shows its pseudonym in .jovofs/errors and the xattr" {
	require_backend filedb
	# Jovo's FileDb can hold a string JSON.parse takes but jansson refuses
	# (a lone surrogate): that record fails to load, and the store's
	# message names its id
	seed_json "[$(person alice-raw-id r1@example.org +4930111)]"
	python3 - "$JFS_DB" <<'PY'
import json, sys
items = json.load(open(sys.argv[1]))
eve = json.loads(json.dumps(items[0]))
eve["id"] = "eve-raw-id"
eve["user"]["data"]["plan"] = "LONE-SURROGATE"
items.append(eve)
text = json.dumps(items, indent=2).replace('"LONE-SURROGATE"', '"\\ud800"')
open(sys.argv[1], "w").write(text)
PY
	mount_jfs -o ro -o "mask=$MASK" -o mask_ids
	# one directory is eve's, whose record does not load
	for d in "$JFS_MNT"/mask:*; do cat "$d/user.json" >/dev/null 2>&1 || bad=$d; done
	[ -n "${bad:-}" ]
	grep -q "cannot" "$JFS_MNT/.jovofs/errors"
	# a find view reads eve's plan too: the store's message names her id
	ls "$JFS_MNT/.jovofs/find/user.data.plan=pro" >/dev/null 2>&1 || true
	grep -q "eve-raw-id" "$JFS_LOG"
	# (eve's files cannot be read: EIO)
	[ -z "$(grep -rs -e raw-id "$JFS_MNT")" ]
	run probe getxattr "$bad" user.jovofs.error
	[[ "$output" != *raw-id* ]]
}
