#!/usr/bin/env bats
# The journal of every change the mount makes, and undo (SEMANTICS.md,
# "The journal and undo").

load common

setup() {
	jfs_setup
	seed_json "[$(full_item alice), $(full_item bob)]"
	make_config "$ALL_ON"
	U="$JFS_MNT/alice"
}

# Entry $1 of the journal (JSON, compact), or nothing.
entry() {
	jq -c "select(.seq == $1)" "$JFS_JOURNAL" "$JFS_JOURNAL.1" 2>/dev/null || true
}

# The last entry's field $1.
last() {
	jq -c 'select(.seq)' "$JFS_JOURNAL" | tail -n 1 | jq -c "$1"
}

# FileDb saves within write_delay: what the store holds, once saved
eventually() {
	local i
	for i in $(seq 100); do
		"$@" 2>/dev/null && return 0
		sleep 0.05
	done
	"$@"
}

field_is() { # ID FILTER VALUE
	[ "$(stored_field "$1" "$2")" = "$3" ]
}

last_seq() {
	jq -r 'select(.seq) | .seq' "$JFS_JOURNAL" | tail -n 1
}

@test "each kind of change is one JSON line: who, when, what it was and what it became" {
	mount_jfs -o allow_delete
	old="$(jq -c . "$U/user.json")"
	echo '{"data":{"n":1}}' >"$U/user.json"
	e="$(entry 1)"
	[ "$(jq -r .user <<<"$e")" = alice ]
	[ "$(jq -r .element <<<"$e")" = user ]
	[ "$(jq -r .op <<<"$e")" = write ]
	[ "$(jq -c .before <<<"$e")" = "$old" ]
	[ "$(jq -c .after <<<"$e")" = '{"data":{"n":1}}' ]
	[ "$(jq -r .uid <<<"$e")" = "$(id -u)" ]
	[ "$(jq -r .comm <<<"$e")" = bash ]
	[ "$(jq -r .backend <<<"$e")" = "$JOVOFS_TEST_BACKEND" ]
	[[ "$(jq -r .time <<<"$e")" =~ ^20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T.*Z$ ]]
	[[ "$(jq -r .pid <<<"$e")" =~ ^[0-9]+$ ]]
	# cp: the process that wrote
	echo '{"data":{"n":2}}' >"$JFS_TMP/u.json"
	cp "$JFS_TMP/u.json" "$U/user.json"
	[ "$(last .comm)" = '"cp"' ]
	[ "$(last .before)" = '{"data":{"n":1}}' ]
	# a rename onto an element (jq > tmp && mv tmp)
	jq -c '.data.n = 3' "$U/user.json" >"$U/user.json.tmp"
	mv "$U/user.json.tmp" "$U/user.json"
	[ "$(last .op)" = '"rename"' ]
	[ "$(last .comm)" = '"mv"' ]
	[ "$(last .after)" = '{"data":{"n":3}}' ]
	# a history item, a timestamp
	echo '{"output":[]}' >"$U/history/1.json"
	[ "$(last .element)" = '"history/1"' ]
	[ "$(last .change)" = '"replace"' ]
	echo 2020-01-01T00:00:00.000Z >"$U/createdAt"
	[ "$(last .element)" = '"createdAt"' ]
	[ "$(last .after)" = '"2020-01-01T00:00:00.000Z"' ]
	# create and delete of a user, delete of an element
	mkdir "$JFS_MNT/carol"
	[ "$(last '[.element, .op, .before, .after.id]')" = '["record","create",null,"carol"]' ]
	[ "$(last .comm)" = '"mkdir"' ]
	rm "$JFS_MNT/carol/createdAt"
	[ "$(last '[.element, .op, .after]')" = '["createdAt","delete",null]' ]
	[ "$(probe rmdir "$JFS_MNT/bob")" = OK ]
	[ "$(last '[.user, .element, .op, .after, .before.user.data.name]')" = '["bob","record","delete",null,"Ada"]' ]
	# seq increases by one per entry, never twice the same
	[ "$(jq -r 'select(.seq) | .seq' "$JFS_JOURNAL" | tr '\n' ' ')" = "1 2 3 4 5 6 7 8 " ]
	# every line is JSON
	jq -e . "$JFS_JOURNAL" >/dev/null
}

@test "the journal is 0600 in a 0700 directory, named in .jovofs/config, shown in .jovofs/journal" {
	mount_jfs
	echo '{"data":{"n":1}}' >"$U/user.json"
	echo '{"data":{"n":2}}' >"$U/user.json"
	[ "$(stat -c %a "$JFS_JOURNAL")" = 600 ]
	[ "$(stat -c %a "$(dirname "$JFS_JOURNAL")")" = 700 ]
	[ "$(jq -r .mount.journal "$JFS_MNT/.jovofs/config")" = "$JFS_JOURNAL" ]
	diff "$JFS_MNT/.jovofs/journal" "$JFS_JOURNAL"
	[ "$(jq -r .seq "$JFS_MNT/.jovofs/journal" | tr '\n' ' ')" = "1 2 " ]
}

@test "-o journal=off keeps none; the default place is /var/lib/jovofs for root" {
	mount_jfs -o journal=off
	echo '{"data":{"n":1}}' >"$U/user.json"
	[ "$(jq -r .mount.journal "$JFS_MNT/.jovofs/config")" = off ]
	[ ! -e "$JFS_MNT/.jovofs/journal" ]
	[ ! -e "$JFS_JOURNAL" ]
	umount_jfs
	[ "$(id -u)" = 0 ] || skip "the default place for root"
	mount_jfs -o journal=
	path="$(jq -r .mount.journal "$JFS_MNT/.jovofs/config")"
	umount_jfs
	rm -f "$path" "$path.1"
	[[ "$path" == /var/lib/jovofs/"$JOVOFS_TEST_BACKEND"-*.journal ]]
}

@test "an entry is on disk before close() returns: kill -9 right after loses no entry" {
	mount_jfs
	for i in 1 2 3 4 5; do
		[ "$(probe write-close "$U/user.json" "{\"data\":{\"k\":$i}}")" = OK ]
	done
	kill -9 "$JFS_PID"
	jfs_forget_daemon
	[ "$(jq -c 'select(.seq) | .after.data.k' "$JFS_JOURNAL" | tr '\n' ' ')" = "1 2 3 4 5 " ]
	# a line cut short by a crash is dropped at the next mount, the rest kept
	printf '{"seq":6,"time":"2026-01-0' >>"$JFS_JOURNAL"
	mount_jfs
	grep -q "dropped 26 bytes of a line cut short" "$JFS_LOG"
	jq -e . "$JFS_JOURNAL" >/dev/null
	echo '{"data":{"k":6}}' >"$U/user.json"
	[ "$(last_seq)" = 6 ]
}

@test "entries survive unmount and mount; seq goes on" {
	mount_jfs
	echo '{"data":{"n":1}}' >"$U/user.json"
	umount_jfs
	mount_jfs
	echo '{"data":{"n":2}}' >"$U/user.json"
	[ "$(jq -r .seq "$JFS_MNT/.jovofs/journal" | tr '\n' ' ')" = "1 2 " ]
}

@test "undo puts an element back; a change made since makes it ESTALE and changes nothing" {
	mount_jfs
	echo '{"data":{"n":1}}' >"$U/user.json"
	echo '{"data":{"n":2}}' >"$U/user.json"
	# 1 is not the last change of user.json: refused, stored data unchanged
	run probe write-close "$JFS_MNT/.jovofs/undo" 1
	[ "$output" = "write:ESTALE" ]
	grep -q "cannot undo change 1 .*changed since" "$JFS_MNT/.jovofs/errors"
	eventually field_is alice .user '{"data":{"n":2}}'
	echo 2 >"$JFS_MNT/.jovofs/undo"
	[ "$(jq -c . "$U/user.json")" = '{"data":{"n":1}}' ]
	eventually field_is alice .user '{"data":{"n":1}}'
	# the undo is a change of its own, and can be undone
	[ "$(last '[.op, .undoes, .before, .after]')" = '["undo",2,{"data":{"n":2}},{"data":{"n":1}}]' ]
	echo 3 >"$JFS_MNT/.jovofs/undo"
	eventually field_is alice .user '{"data":{"n":2}}'
	# change 1 left n=1, the element holds n=2 again
	run probe write-close "$JFS_MNT/.jovofs/undo" 1
	[ "$output" = "write:ESTALE" ]
	# nonsense is EINVAL, an unknown change ENOENT
	run probe write-close "$JFS_MNT/.jovofs/undo" abc
	[ "$output" = "write:EINVAL" ]
	run probe write-close "$JFS_MNT/.jovofs/undo" 999
	[ "$output" = "write:ENOENT" ]
}

@test "undo of a change by someone else since (the Jovo app) is ESTALE" {
	mount_jfs
	echo '{"data":{"n":1}}' >"$U/user.json"
	item="$(backend_get alice | jq -c '.user.data.n = 7 | .updatedAt = "2026-02-02T00:00:00.000Z"')"
	seed_json "[$item]"
	run probe write-close "$JFS_MNT/.jovofs/undo" 1
	[ "$output" = "write:ESTALE" ]
	[ "$(stored_field alice .user.data.n)" = 7 ]
}

@test "undo of a user's creation deletes it (with allow_delete only); undo of a deletion brings it back" {
	mount_jfs
	mkdir "$JFS_MNT/carol"
	run probe write-close "$JFS_MNT/.jovofs/undo" 1
	[ "$output" = "write:EPERM" ]
	grep -q "allow_delete" "$JFS_MNT/.jovofs/errors"
	[ -d "$JFS_MNT/carol" ]
	umount_jfs
	mount_jfs -o allow_delete
	echo 1 >"$JFS_MNT/.jovofs/undo"
	[ ! -e "$JFS_MNT/carol" ]
	eventually not backend_get carol >/dev/null
	before="$(backend_get bob | jq -cS 'del(._id)')"
	[ "$(probe rmdir "$JFS_MNT/bob")" = OK ]
	eventually not backend_get bob >/dev/null
	echo "$(last_seq)" >"$JFS_MNT/.jovofs/undo"
	[ -d "$JFS_MNT/bob" ]
	eventually backend_get bob >/dev/null
	[ "$(backend_get bob | jq -cS 'del(._id)')" = "$before" ]
	[ "$(jq -r .data.name "$JFS_MNT/bob/user.json")" = Ada ]
}

@test "undo of history changes: a replaced item back, a removed item back in its place" {
	mount_jfs -o allow_delete
	h0="$(jq -c . "$U/history/0.json")"
	h1="$(jq -c . "$U/history/1.json")"
	echo '{"output":["x"]}' >"$U/history/1.json"
	echo "$(last_seq)" >"$JFS_MNT/.jovofs/undo"
	[ "$(jq -c . "$U/history/1.json")" = "$h1" ]
	rm "$U/history/0.json"
	[ "$(last '[.element, .change]')" = '["history/0","remove"]' ]
	[ "$(jq -c . "$U/history/0.json")" = "$h1" ]
	echo "$(last_seq)" >"$JFS_MNT/.jovofs/undo"
	[ "$(jq -c . "$U/history/0.json")" = "$h0" ]
	[ "$(jq -c . "$U/history/1.json")" = "$h1" ]
	[ "$(last '[.element, .change]')" = '["history/0","insert"]' ]
}

@test "a change the store refused gets a line that says so, and cannot be undone" {
	mount_jfs
	cat "$U/user.json" >/dev/null
	# the Jovo app changes the same element meanwhile: the write is a conflict
	item="$(backend_get alice | jq -c '.user.data.n = 7 | .updatedAt = "2026-02-02T00:00:00.000Z"')"
	seed_json "[$item]"
	run probe write-close "$U/user.json" '{"data":{"n":1}}'
	[ "$output" = ESTALE ]
	seq="$(last_seq)"
	[ -n "$seq" ]
	[ "$(jq -c "select(.of == $seq) | [.outcome, .errno]" "$JFS_JOURNAL" | tail -n 1)" = '["failed","ESTALE"]' ]
	run probe write-close "$JFS_MNT/.jovofs/undo" "$seq"
	[ "$output" = "write:EINVAL" ]
	grep -q "it was not stored" "$JFS_MNT/.jovofs/errors"
	[ "$(stored_field alice .user.data.n)" = 7 ]
}

@test "past journal_max the journal moves to PATH.1 (0600); entries there can still be undone" {
	mount_jfs -o journal_max=3000
	before="$(jq -c . "$U/user.json")"
	echo '{"data":{"a":1}}' >"$U/user.json"
	i=0
	while [ ! -e "$JFS_JOURNAL.1" ] && ((i < 100)); do
		i=$((i + 1))
		echo "{\"data\":{\"n\":$i}}" >"$JFS_MNT/bob/user.json"
	done
	[ -e "$JFS_JOURNAL.1" ]
	[ "$(stat -c %a "$JFS_JOURNAL.1")" = 600 ]
	[ "$(stat -c %s "$JFS_JOURNAL")" -le 3000 ]
	[ "$(jq -r 'select(.seq) | .seq' "$JFS_JOURNAL.1" | head -n 1)" = 1 ]
	# seq goes on across the files
	[ "$(last_seq)" = $((i + 1)) ]
	echo 1 >"$JFS_MNT/.jovofs/undo"
	[ "$(jq -c . "$U/user.json")" = "$before" ]
	[ "$(last '[.op, .undoes]')" = '["undo",1]' ]
}

@test "two mounts cannot share one journal; a read-only mount reads it and cannot undo" {
	mount_jfs
	echo '{"data":{"n":1}}' >"$U/user.json"
	mkdir -p "$BATS_TEST_TMPDIR/mnt2"
	run mount_second "$BATS_TEST_TMPDIR/mnt2" -o "journal=$JFS_JOURNAL"
	[ "$status" -ne 0 ]
	grep -q "in use by another jovofs mount" "$JFS_LOG"
	mount_second "$BATS_TEST_TMPDIR/mnt2" -o ro -o "journal=$JFS_JOURNAL"
	[ "$(jq -r .seq "$BATS_TEST_TMPDIR/mnt2/.jovofs/journal")" = 1 ]
	run probe write-close "$BATS_TEST_TMPDIR/mnt2/.jovofs/undo" 1
	[ "$output" != OK ]
	eventually field_is alice .user '{"data":{"n":1}}'
}
