#!/usr/bin/env bats
# Find views (.jovofs/find/FILTER/, README "Find views"): every operator and
# literal type against what jq says of the same items, the storedElements
# rules, malformed filters, invalidation by a write through the mount, and
# symlinks that resolve (ls, cat, find -L). The store evaluates the filter
# (backend-contract holds each store to JavaScript's comparisons); this
# suite checks the whole way through the mount.

load common

# Thirty users whose values cover what the filters compare: strings, numbers
# (and one numeric string, one null), booleans, arrays, nested objects,
# ISO times, ids with a '/' and a space.
seed_people() {
	jq -cn '[range(0; 30) as $i | {
		id: (if $i == 28 then "c/d" elif $i == 29 then "with space" else "u\($i + 100)" end),
		user: {data: ({
			name: (["Ann", "Bob", "Dana", "Ivan", "Joan"][$i % 5]),
			city: (["Paris", "Wien", "Berlin"][$i % 3]),
			premium: ($i % 4 == 0),
			ratio: ($i / 10),
			tags: (if $i % 5 == 0 then ["vip", "beta"] elif $i % 5 == 1 then ["beta"] else [] end),
			profile: (if $i % 6 == 0 then {email: "p\($i)@example.com"} else {} end),
			path: (if $i == 7 then "a/b" else "x" end)
		} + (if $i == 3 then {score: "950"} elif $i == 4 then {score: null}
		     elif $i == 5 then {} else {score: ($i * 37 % 1000)} end))},
		createdAt: "2025-06-30T05:50:04.034Z",
		updatedAt: "2026-\(10 + $i % 3)-0\(1 + $i % 9)T10:00:00.000Z"
	}]' >"$JFS_TMP/people.json"
	backend_seed "$JFS_TMP/people.json"
}

# view FILTER JQ_SELECT: the view lists exactly the users jq selects.
view() {
	local got want
	got="$(ls "$JFS_MNT/.jovofs/find/$1" | sort)" || { echo "ls of view '$1' failed" >&2; return 1; }
	# the names of these ids: only '/' needs encoding (enc_name costs a node start)
	want="$(jq -r ".[] | select($2) | .id | gsub(\"%\"; \"%25\") | gsub(\"/\"; \"%2F\")" \
		"$JFS_TMP/people.json" | sort)"
	if [[ "$got" != "$want" ]]; then
		printf 'view %s\n  got:  %s\n  want: %s\n' "$1" "$(echo $got)" "$(echo $want)" >&2
		return 1
	fi
}

@test "find: every operator and type, as jq selects the same items" {
	seed_people
	mount_jfs
	view 'user.data.city=Paris' '.user.data.city == "Paris"'
	view 'user.data.city!=Paris' '.user.data.city != "Paris"'
	view 'user.data.premium=true' '.user.data.premium == true'
	view 'user.data.premium!=true' '.user.data.premium != true'
	view 'user.data.ratio=0.1' '.user.data.ratio == 0.1'
	view 'user.data.ratio>=2.5' '.user.data.ratio >= 2.5'
	# JavaScript compares a numeric string as a number ("950" >= 500), null as 0
	local num='(.user.data | if has("score") then (.score | if type == "number" then . elif type == "string" then tonumber elif type == "null" then 0 else null end) else null end)'
	view 'user.data.score>=500' "$num != null and $num >= 500"
	view 'user.data.score<100' "$num != null and $num < 100"
	view 'user.data.score<=37' "$num != null and $num <= 37"
	view 'user.data.score>950' "$num != null and $num > 950"
	view 'user.data.score=950' '.user.data.score == 950'
	view 'user.data.score="950"' '.user.data.score == "950"'
	view 'user.data.score=null' '.user.data | has("score") and .score == null'
	view 'user.data.score?' '.user.data | has("score")'
	view 'user.data.name~an' '.user.data.name | contains("an")'
	view 'user.data.profile.email~example.com' '.user.data.profile.email // "" | contains("example.com")'
	view 'user.data.profile.email?' '.user.data.profile | has("email")'
	view 'updatedAt>2026-12-01' '.updatedAt > "2026-12-01"'
	view 'updatedAt<=2026-10-05T10:00:00.000Z' '.updatedAt <= "2026-10-05T10:00:00.000Z"'
	view 'user.data.tags.0=vip' '.user.data.tags[0] == "vip"'
	view 'user.data.tags.1?' '.user.data.tags | length > 1'
	view 'id~u10' '.id | contains("u10")'
	view 'user.data.path=a%2Fb' '.user.data.path == "a/b"'
	view 'user.data.city=Paris&user.data.score>=500&user.data.premium!=true' \
		".user.data.city == \"Paris\" and $num != null and $num >= 500 and .user.data.premium != true"
	view 'user.data.nothing?' 'false'
	# the same view again is served from what it found
	view 'user.data.city=Paris' '.user.data.city == "Paris"'
}

@test "find: links resolve: ls -l, cat through them, find -L, readlink" {
	seed_people
	mount_jfs
	local v="$JFS_MNT/.jovofs/find/user.data.city=Paris"
	[ "$(readlink "$v/u100")" = ../../../u100 ]
	[ "$(readlink "$JFS_MNT/.jovofs/find/id=c%2Fd/c%2Fd")" = ../../../c%2Fd ]
	[ "$(cat "$JFS_MNT/.jovofs/find/id=c%2Fd/c%2Fd/createdAt")" = 2025-06-30T05:50:04.034Z ]
	[ "$(ls "$JFS_MNT/.jovofs/find/id=with space")" = "with space" ]
	run ls -l "$v"
	[[ "$output" == *"u100 -> ../../../u100"* ]]
	[[ "${lines[1]}" == l* ]]
	# every user.json through the links, and the same bytes as through the root
	cat "$v"/*/user.json >"$JFS_TMP/via-view"
	for n in $(ls "$v"); do cat "$JFS_MNT/$n/user.json"; done >"$JFS_TMP/via-root"
	cmp "$JFS_TMP/via-view" "$JFS_TMP/via-root"
	[ "$(jq -s 'map(.data.city) | unique | join(",")' -r "$JFS_TMP/via-view")" = Paris ]
	[ "$(find -L "$v" -name user.json | wc -l)" = "$(ls "$v" | wc -l)" ]
	# a name that is not a match, and the folder of views lists none
	run probe stat-mode "$v/u101"
	[ "$output" = ENOENT ]
	[ -z "$(ls "$JFS_MNT/.jovofs/find")" ]
	# views are read-only
	run probe mkdir "$v/x"
	[ "$output" = EPERM ]
	run probe unlink "$v/u100"
	[ "$output" = EPERM ]
	[ -f "$JFS_MNT/u100/user.json" ]
}

@test "find: a write through the mount shows in a view at once" {
	seed_json "[$(item alice '{"city":"Paris"}'),$(item bob '{"city":"Wien"}')]"
	mount_jfs -o allow_delete
	local v="$JFS_MNT/.jovofs/find/user.data.city=Paris"
	[ "$(ls "$v")" = alice ]
	[ -L "$v/alice" ]
	echo '{"data":{"city":"Paris"}}' >"$JFS_MNT/bob/user.json"
	[ "$(ls "$v" | tr '\n' ' ')" = "alice bob " ]
	echo '{"data":{"city":"Rome"}}' >"$JFS_MNT/alice/user.json"
	[ "$(ls "$v")" = bob ]
	run probe stat-mode "$v/alice"
	[ "$output" = ENOENT ]
	mkdir "$JFS_MNT/carol"
	[ "$(ls "$JFS_MNT/.jovofs/find/user.data?" | tr '\n' ' ')" = "alice bob carol " ]
	rm -r "$JFS_MNT/carol"
	[ "$(ls "$JFS_MNT/.jovofs/find/user.data?" | tr '\n' ' ')" = "alice bob " ]
	# another client's change shows within the cache time (FileDb: after our saves)
	sleep 0.5
	seed_json "[$(item dave '{"city":"Paris"}')]"
	sleep 1.5
	[ "$(ls "$v" | tr '\n' ' ')" = "bob dave " ]
	# ... also when nothing was written through the mount since the last ls
	seed_json "[$(item erin '{"city":"Paris"}')]"
	sleep 1.5
	[ "$(ls "$v" | tr '\n' ' ')" = "bob dave erin " ]
}

@test "find: storedElements applies: a disabled element is ENOENT with the reason, an expired session matches nothing" {
	local fresh old
	fresh="$(enc_iso "$(($(iso_now_ms) - 60000))")"
	old="$(enc_iso "$(($(iso_now_ms) - 7200000))")"
	seed_json "[$(jq -cn --arg f "$fresh" --arg o "$old" '
		{id: "fresh", user: {data: {}}, session: {data: {step: 2}, updatedAt: $f}},
		{id: "stale", user: {data: {}}, session: {data: {step: 2}, updatedAt: $o}},
		{id: "never", user: {data: {}}, session: {data: {step: 2}, updatedAt: "not a time"}},
		{id: "other", user: {data: {}}, session: {data: {step: 3}, updatedAt: $f}}' | paste -sd,)]"
	make_config '{"user":true,"session":{"expiresAfterSeconds":900}}'
	mount_jfs
	[ "$(ls "$JFS_MNT/.jovofs/find/session.data.step=2" | tr '\n' ' ')" = "fresh never " ]
	# not even != or ? hold for an expired session
	[ "$(ls "$JFS_MNT/.jovofs/find/session.data.step!=9" | tr '\n' ' ')" = "fresh never other " ]
	[ "$(ls "$JFS_MNT/.jovofs/find/session?" | tr '\n' ' ')" = "fresh never other " ]
	[ "$(ls "$JFS_MNT/.jovofs/find/user.data?" | wc -l)" = 4 ]
	run probe stat-mode "$JFS_MNT/.jovofs/find/history.items.0?"
	[ "$output" = ENOENT ]
	grep -q "filter 'history.items.0?': 'history' is disabled by storedElements" "$JFS_MNT/.jovofs/errors"
	grep -q "'history' is disabled by storedElements" "$JFS_LOG"
	umount_jfs
	make_config
	mount_jfs
	run probe stat-mode "$JFS_MNT/.jovofs/find/session.data.step=2"
	[ "$output" = ENOENT ]
	grep -q "'session' is disabled by storedElements" "$JFS_MNT/.jovofs/errors"
}

@test "find: a malformed filter is EINVAL with the reason in the log and .jovofs/errors" {
	seed_json "[$(item alice)]"
	mount_jfs
	local f why
	while IFS='|' read -r f why; do
		run probe stat-mode "$JFS_MNT/.jovofs/find/$f"
		[ "$output" = EINVAL ] || { echo "'$f': $output" >&2; return 1; }
		grep -qF "$why" "$JFS_MNT/.jovofs/errors" || { echo "'$f': no '$why'" >&2; return 1; }
	done <<'EOF'
user|no operator
a==5|'==' is not an operator: use '='
a!5|use '!='
=5|no path before the operator
a..b=1|an empty segment
a?x|'?' (exists) takes no value
a=1&&b=2|an empty condition
a=%zz|two hex digits
a={"x":1}|objects and arrays cannot be compared
EOF
	grep -q "malformed filter 'a==5'" "$JFS_LOG"
	jfs_daemon_alive
	[ "$(ls "$JFS_MNT/.jovofs/find/id=alice")" = alice ]
}
