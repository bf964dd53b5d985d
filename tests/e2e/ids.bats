#!/usr/bin/env bats
# DESIGN section 2, "User ids as names": hostile ids in the store.

load common

# The ids; each user's data holds its index, so a test can tell whose
# record a name resolved to.
hostile_ids() {
	jnode -e '
		const ids = [
			"a/b", "b", "a", "..", ".", "%41", "%", ".hidden", "a/../b", "../../etc",
			"ctl\u0001\u001fx", "tab\tname", "sp ace", "Zoë-日本-🎉", ".jovofs",
			"L".repeat(300), "L".repeat(299) + "M", "é".repeat(200), "x%2Fy", "-rf", "del\u007f",
		];
		process.stdout.write(JSON.stringify(ids));'
}

seed_hostile() {
	hostile_ids >"$JFS_TMP/ids.json"
	jnode -e '
		const ids = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
		process.stdout.write(JSON.stringify(ids.map((id, i) => ({id, user: {data: {i}},
			createdAt: "2025-01-01T00:00:00.000Z", updatedAt: "2025-01-01T00:00:00.000Z"}))));' \
		"$JFS_TMP/ids.json" >"$JFS_TMP/seed.json"
	backend_seed "$JFS_TMP/seed.json"
	NIDS="$(jq length "$JFS_TMP/ids.json")"
}

@test "every hostile id is listed once, as a single safe name" {
	seed_hostile
	mount_jfs
	find "$JFS_MNT" -mindepth 1 -maxdepth 1 -not -name .jovofs -printf '%f\0' >"$JFS_TMP/names"
	[ "$(tr -cd '\0' <"$JFS_TMP/names" | wc -c)" -eq "$NIDS" ]
	while IFS= read -r -d '' n; do
		[[ "$n" != . && "$n" != .. && "$n" != */* && "$n" != .* ]] || { echo "bad name '$n'" >&2; return 1; }
		((${#n} > 0)) && (($(printf %s "$n" | wc -c) <= 255)) || { echo "name too long: $n" >&2; return 1; }
		[ -d "$JFS_MNT/$n" ] || { echo "not a directory: $n" >&2; return 1; }
	done <"$JFS_TMP/names"
	# no duplicates
	[ "$(sort -z -u "$JFS_TMP/names" | tr -cd '\0' | wc -c)" -eq "$NIDS" ]
}

@test "names are the percent-encoded ids" {
	seed_hostile
	mount_jfs
	for n in a%2Fb b a %2E. %2E %2541 %25 %2Ehidden a%2F..%2Fb %2E.%2F..%2Fetc ctl%01%1Fx \
		'tab%09name' 'sp ace' 'Zoë-日本-🎉' %2Ejovofs x%252Fy -rf; do
		[ -d "$JFS_MNT/$n" ] || { echo "missing name '$n'" >&2; ls "$JFS_MNT" >&2; return 1; }
	done
}

@test "user.jovofs.id returns the raw id of every listed name" {
	seed_hostile
	mount_jfs
	while IFS= read -r -d '' n; do
		probe getxattr-hex "$JFS_MNT/$n" user.jovofs.id
	done < <(find "$JFS_MNT" -mindepth 1 -maxdepth 1 -not -name .jovofs -printf '%f\0') | sort >"$JFS_TMP/got"
	jnode -e '
		for (const id of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")))
			console.log(Buffer.from(id, "utf8").toString("hex"));' "$JFS_TMP/ids.json" | sort >"$JFS_TMP/want"
	diff "$JFS_TMP/got" "$JFS_TMP/want"
}

@test "each name opens its own record and nothing else" {
	seed_hostile
	mount_jfs
	while IFS= read -r -d '' n; do
		idhex="$(probe getxattr-hex "$JFS_MNT/$n" user.jovofs.id)"
		want="$(jnode -e '
			const ids = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
			console.log(ids.indexOf(Buffer.from(process.argv[2], "hex").toString("utf8")));' \
			"$JFS_TMP/ids.json" "$idhex")"
		got="$(jq .data.i "$JFS_MNT/$n/user.json")"
		[ "$got" = "$want" ] || { echo "'$n' shows user $got, want $want" >&2; return 1; }
		[ "$(probe getxattr-hex "$JFS_MNT/$n/user.json" user.jovofs.id)" = "$idhex" ]
	done < <(find "$JFS_MNT" -mindepth 1 -maxdepth 1 -not -name .jovofs -printf '%f\0')
}

@test "nothing escapes a user directory" {
	seed_hostile
	mount_jfs
	# every path the tree holds stays under the mountpoint, depth <= 2
	run bash -c "find '$JFS_MNT' -not -path '$JFS_MNT/.jovofs*' -mindepth 3 | grep -v '/history/' || true"
	[ -z "$output" ]
	[ "$(find "$JFS_MNT" -name user.json | wc -l)" -eq "$NIDS" ]
	# 'a/../b' is its own record, not b's nor a's
	[ "$(jq .data.i "$JFS_MNT/a%2F..%2Fb/user.json")" = 8 ]
	[ "$(jq .data.i "$JFS_MNT/a%2Fb/user.json")" = 0 ]
	[ "$(jq .data.i "$JFS_MNT/%2E./user.json")" = 3 ]
	[ "$(jq .data.i "$JFS_MNT/%2E.%2F..%2Fetc/user.json")" = 9 ]
	# the id '.jovofs' does not take the status folder's place
	[ -f "$JFS_MNT/.jovofs/metrics" ]
	[ "$(jq .data.i "$JFS_MNT/%2Ejovofs/user.json")" = 14 ]
	# names that are not encodings of anything stored are simply absent
	run probe stat-size "$JFS_MNT/%2E%2E"
	[[ "$output" = ENOENT || "$output" = EINVAL ]]
	run probe stat-size "$JFS_MNT/%zz"
	[[ "$output" = ENOENT || "$output" = EINVAL ]]
}

long_names() {
	while IFS= read -r -d '' n; do
		h="$(probe getxattr-hex "$JFS_MNT/$n" user.jovofs.id)"
		((${#h} > 510)) && printf '%s %s\n' "$n" "$h"
	done < <(find "$JFS_MNT" -mindepth 1 -maxdepth 1 -not -name .jovofs -printf '%f\0') | sort
	return 0
}

@test "ids longer than NAME_MAX get stable, distinct names" {
	seed_hostile
	mount_jfs
	long_names >"$JFS_TMP/n1"
	# L*300, L*299+M and é*200 (400 bytes)
	[ "$(wc -l <"$JFS_TMP/n1")" -eq 3 ]
	[ "$(cut -d' ' -f1 "$JFS_TMP/n1" | sort -u | wc -l)" -eq 3 ]
	while read -r n h; do
		[ "$(jq .data.i "$JFS_MNT/$n/user.json")" -ge 15 ]
	done <"$JFS_TMP/n1"
	umount_jfs
	mount_jfs
	long_names >"$JFS_TMP/n2"
	diff "$JFS_TMP/n1" "$JFS_TMP/n2"
}

@test "mkdir of an encoded name creates the decoded id" {
	mount_jfs
	run probe mkdir "$JFS_MNT/new%2Fid"
	[ "$output" = OK ]
	run probe mkdir "$JFS_MNT/%2Edot"
	[ "$output" = OK ]
	run probe write-close "$JFS_MNT/new%2Fid/user.json" '{"data":{"k":1}}'
	[ "$output" = OK ]
	umount_jfs
	run backend_ids
	assert_equal_str "$(sort <<<"$output")" "$(printf '%s\n' .dot new/id)"
	[ "$(stored_field new/id .user.data.k)" = 1 ]
}

@test "a hostile id's elements are written to that id only" {
	seed_hostile
	mount_jfs
	run probe write-close "$JFS_MNT/a%2Fb/user.json" '{"data":{"i":"edited"}}'
	[ "$output" = OK ]
	umount_jfs
	[ "$(stored_field a/b .user.data.i)" = '"edited"' ]
	[ "$(stored_field a .user.data.i)" = 2 ]
	[ "$(stored_field b .user.data.i)" = 1 ]
}

@test "a long id's name ends in the first 16 hex digits of its SHA-256" {
	local id
	id="$(printf 'L%.0s' $(seq 300))"
	seed_json "[$(item "$id")]"
	mount_jfs
	local want
	want="$(printf '%s' "$id" | sha256sum | cut -c1-16)"
	[ -d "$JFS_MNT/$(printf 'L%.0s' $(seq 200))%~$want" ]
}

@test "mkdir of a name that is not UTF-8, or decodes to a NUL byte, is EINVAL and stores nothing" {
	mount_jfs
	run probe mkdir "$JFS_MNT/$(printf 'bad\xff')"
	[ "$output" = EINVAL ]
	run probe mkdir "$JFS_MNT/$(printf 'over\xc0\xaflong')"
	[ "$output" = EINVAL ]
	run probe mkdir "$JFS_MNT/carol%00x"
	[ "$output" = EINVAL ]
	run probe stat-size "$JFS_MNT/carol%00x"
	[ "$output" = ENOENT ]
	grep -q "UTF-8" "$JFS_LOG"
	run probe mkdir "$JFS_MNT/caf$(printf '\xc3\xa9')"
	[ "$output" = OK ]
	umount_jfs
	run backend_ids
	assert_equal_str "$output" "$(printf 'caf\xc3\xa9')"
	# the store still mounts
	mount_jfs
	[ -d "$JFS_MNT/caf$(printf '\xc3\xa9')" ]
}
