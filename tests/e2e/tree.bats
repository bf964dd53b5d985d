#!/usr/bin/env bats
# DESIGN section 2: the tree, listings, contents, sizes, times, modes, owners.

load common

seed_alice() {
	ALICE_UPD=2026-01-02T03:04:05.678Z
	ALICE_SUPD="$(enc_iso $(($(iso_now_ms) - 60000)))"
	seed_json "[$(full_item alice "$ALICE_UPD" "$ALICE_SUPD")]"
}

@test "an empty store mounts and lists nothing but the hidden .jovofs" {
	mount_jfs
	run ls "$JFS_MNT"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run ls -A "$JFS_MNT"
	[ "$output" = ".jovofs" ]
	[ -d "$JFS_MNT/.jovofs" ]
}

@test "a user directory holds exactly the enabled elements" {
	seed_alice
	make_config "$ALL_ON"
	mount_jfs
	run ls "$JFS_MNT"
	[ "$output" = alice ]
	run ls "$JFS_MNT/alice"
	assert_equal_str "$output" "$(printf '%s\n' createdAt history record.json session.json updatedAt user.json)"
	run ls "$JFS_MNT/alice/history"
	assert_equal_str "$output" "$(printf '%s\n' 0.json 1.json 2.json)"
}

@test "user.json and session.json are the elements, rendered like JSON.stringify(v, null, 2) plus newline" {
	seed_alice
	make_config "$ALL_ON"
	mount_jfs
	cat "$JFS_MNT/alice/user.json" >"$JFS_TMP/u"
	stored_field alice .user | js_pretty >"$JFS_TMP/want"
	cmp "$JFS_TMP/u" "$JFS_TMP/want"
	cat "$JFS_MNT/alice/session.json" >"$JFS_TMP/s"
	stored_field alice .session | js_pretty >"$JFS_TMP/want"
	cmp "$JFS_TMP/s" "$JFS_TMP/want"
}

@test "history/N.json is items[N], newest first, at most history.size files" {
	seed_alice
	make_config "$ALL_ON"
	mount_jfs
	for n in 0 1 2; do
		stored_field alice ".history.items[$n]" | js_pretty >"$JFS_TMP/want"
		cmp "$JFS_MNT/alice/history/$n.json" "$JFS_TMP/want"
	done
	[ "$(jq -r '.output[0].message' "$JFS_MNT/alice/history/0.json")" = newest ]
	[ ! -e "$JFS_MNT/alice/history/3.json" ]
	run probe stat-size "$JFS_MNT/alice/history/3.json"
	[ "$output" = ENOENT ]
}

@test "createdAt and updatedAt hold the timestamp and a newline" {
	seed_alice
	mount_jfs
	assert_equal_str "$(cat "$JFS_MNT/alice/createdAt"; echo x)" "$(printf '2025-06-30T05:50:04.034Z\nx')"
	assert_equal_str "$(cat "$JFS_MNT/alice/updatedAt"; echo x)" "$(printf '%s\nx' "$ALICE_UPD")"
}

@test "record.json is the whole stored item, unknown keys included" {
	seed_alice
	make_config "$ALL_ON"
	mount_jfs
	diff <(jq -S . "$JFS_MNT/alice/record.json") <(stored alice)
	[ "$(jq -c .custom "$JFS_MNT/alice/record.json")" = '{"plugin":"x","n":[1,2.5,"three"],"nested":{"deep":true}}' ]
}

@test "st_size is the number of bytes read, for every file" {
	seed_alice
	seed_json "[$(item bob '{"x":"ünïcödé ✓","n":[1,2,3]}')]"
	make_config "$ALL_ON"
	mount_jfs
	local n=0
	while IFS= read -r -d '' f; do
		sz="$(stat -c %s "$f")"
		rd="$(probe read-size "$f")"
		[ "$sz" = "$rd" ] || { echo "$f: st_size $sz, read $rd" >&2; return 1; }
		n=$((n + 1))
	done < <(find "$JFS_MNT" -path "$JFS_MNT/.jovofs" -prune -o -type f -print0)
	[ "$n" -ge 12 ]
	sz="$(stat -c %s "$JFS_MNT/.jovofs/config")"
	[ "$sz" = "$(probe read-size "$JFS_MNT/.jovofs/config")" ]
}

@test "mtime of the user directory and its files is updatedAt, session.json's the session's" {
	seed_alice
	make_config "$ALL_ON"
	mount_jfs
	want=$(($(iso_ms "$ALICE_UPD") / 1000))
	for f in "" /user.json /createdAt /updatedAt /record.json /history /history/0.json; do
		[ "$(stat -c %Y "$JFS_MNT/alice$f")" = "$want" ] || {
			echo "alice$f: mtime $(stat -c %Y "$JFS_MNT/alice$f"), want $want" >&2
			return 1
		}
	done
	[ "$(stat -c %Z "$JFS_MNT/alice/user.json")" = "$want" ]
	[ "$(stat -c %Y "$JFS_MNT/alice/session.json")" = $(($(iso_ms "$ALICE_SUPD") / 1000)) ]
}

@test "ls -t sorts users by last activity" {
	seed_json "[$(item old '{}' 2024-01-01T00:00:00.000Z), $(item newest '{}' 2026-03-01T00:00:00.000Z), $(item mid '{}' 2025-01-01T00:00:00.000Z)]"
	mount_jfs
	run ls -t "$JFS_MNT"
	assert_equal_str "$output" "$(printf '%s\n' newest mid old)"
}

@test "modes: directories 0755, element files 0644, record.json 0444" {
	seed_alice
	make_config "$ALL_ON"
	mount_jfs
	[ "$(stat -c %a "$JFS_MNT/alice")" = 755 ]
	[ "$(stat -c %a "$JFS_MNT/alice/history")" = 755 ]
	for f in user.json session.json createdAt updatedAt history/0.json; do
		[ "$(stat -c %a "$JFS_MNT/alice/$f")" = 644 ] || { echo "$f: $(stat -c %a "$JFS_MNT/alice/$f")" >&2; return 1; }
	done
	[ "$(stat -c %a "$JFS_MNT/alice/record.json")" = 444 ]
	[ "$(stat -c %F "$JFS_MNT/alice/user.json")" = "regular file" ]
	[ "$(stat -c %F "$JFS_MNT/alice")" = directory ]
}

@test "owner is the mounting user by default" {
	seed_alice
	mount_jfs
	[ "$(stat -c %u:%g "$JFS_MNT/alice")" = "$(id -u):$(id -g)" ]
	[ "$(stat -c %u:%g "$JFS_MNT/alice/user.json")" = "$(id -u):$(id -g)" ]
}

@test "-o uid=,gid= set the owner of every file" {
	seed_alice
	make_config "$ALL_ON"
	mount_jfs -o uid=1234,gid=5678
	run bash -c "find '$JFS_MNT' -path '$JFS_MNT/.jovofs' -prune -o -printf '%U:%G\n' | sort -u"
	[ "$output" = "1234:5678" ]
}

@test "ls -l, find, grep -r and jq work on the tree" {
	seed_alice
	seed_json "[$(item bob '{"city":"Wien"}')]"
	make_config "$ALL_ON"
	mount_jfs
	run ls -l "$JFS_MNT/alice"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 7 ]
	run find "$JFS_MNT" -name user.json
	[ "${#lines[@]}" -eq 2 ]
	run bash -c "grep -rl Wien '$JFS_MNT' --exclude-dir=.jovofs | sort"
	assert_equal_str "$output" "$(printf '%s\n' "$JFS_MNT/bob/record.json" "$JFS_MNT/bob/user.json")"
	[ "$(jq -r .data.name "$JFS_MNT/alice/user.json")" = Ada ]
	[ "$(jq -r .data.city "$JFS_MNT/bob/user.json")" = Wien ]
}

@test "a listing of 500 users is complete and every user.json readable" {
	jnode -e '
		const a = [];
		for (let i = 0; i < 500; i++)
			a.push({id: "u" + i, user: {data: {i}}, createdAt: "2025-01-01T00:00:00.000Z",
				updatedAt: "2025-01-01T00:00:00.000Z"});
		process.stdout.write(JSON.stringify(a));' >"$JFS_TMP/seed.json"
	backend_seed "$JFS_TMP/seed.json"
	mount_jfs
	[ "$(ls "$JFS_MNT" | wc -l)" -eq 500 ]
	diff <(ls "$JFS_MNT" | sort) <(backend_ids | sort)
	[ "$(cat "$JFS_MNT"/*/user.json | jq -s 'map(.data.i) | add')" -eq 124750 ]
}

@test "a user that does not exist is ENOENT" {
	mount_jfs
	run probe stat-size "$JFS_MNT/nobody"
	[ "$output" = ENOENT ]
	run probe read "$JFS_MNT/nobody/user.json"
	[ "$output" = open:ENOENT ]
}

@test "changes made behind the mount show within the cache time" {
	seed_json "[$(item alice '{"v":1}')]"
	mount_jfs -o cache_timeout=1
	[ "$(jq -c .data "$JFS_MNT/alice/user.json")" = '{"v":1}' ]
	seed_json "[$(item alice '{"v":2}' 2026-02-01T00:00:00.000Z), $(item carol '{}')]"
	sleep 2.2
	[ "$(jq -c .data "$JFS_MNT/alice/user.json")" = '{"v":2}' ]
	[ "$(cat "$JFS_MNT/alice/updatedAt")" = 2026-02-01T00:00:00.000Z ]
	run ls "$JFS_MNT"
	assert_equal_str "$output" "$(printf '%s\n' alice carol)"
}

@test "user.jovofs.id xattr on a user directory and its files" {
	seed_alice
	make_config "$ALL_ON"
	mount_jfs
	for f in "" /user.json /history/0.json /record.json; do
		[ "$(probe getxattr "$JFS_MNT/alice$f" user.jovofs.id)" = alice ] || {
			echo "alice$f: $(probe getxattr "$JFS_MNT/alice$f" user.jovofs.id)" >&2
			return 1
		}
	done
	run getfattr --absolute-names --only-values -n user.jovofs.id "$JFS_MNT/alice"
	[ "$output" = alice ]
}
