#!/usr/bin/env bats
# DESIGN section 4: writing with the real Unix tools.

load common

setup() {
	jfs_setup
	seed_json "[$(full_item alice)]"
	BEFORE="$(stored alice)"
	make_config "$ALL_ON"
	mount_jfs
	U="$JFS_MNT/alice"
	T0="$(iso_now_ms)"
	export HOME="$JFS_TMP"
}

# check_user_written '<expected user element JSON>'
# The stored user element is the expected one, nothing else changed but
# updatedAt, which is recent; the mount shows the new content; the user
# directory holds no leftover files of the tool.
check_user_written() {
	local want
	want="$(jq -cS . <<<"$1")"
	assert_equal_str "$(jq -cS . "$U/user.json")" "$want"
	umount_jfs
	assert_equal_str "$(stored_field alice .user | jq -cS .)" "$want"
	diff <(stored alice | jq -S 'del(.user, .updatedAt)') <(jq -S 'del(.user, .updatedAt)' <<<"$BEFORE")
	assert_updated_since alice "$T0"
}

check_unchanged() {
	umount_jfs
	diff <(stored alice) <(printf '%s\n' "$BEFORE")
}

check_no_leftovers() {
	run ls -A "$U"
	assert_equal_str "$output" "$(printf '%s\n' createdAt history record.json session.json updatedAt user.json)"
}

@test "echo > user.json" {
	echo '{"data":{"name":"Grace"}}' >"$U/user.json"
	check_user_written '{"data":{"name":"Grace"}}'
}

@test "cat file > user.json" {
	printf '{\n  "data": {"name": "Grace", "n": [1, 2]}\n}\n' >"$JFS_TMP/new.json"
	cat "$JFS_TMP/new.json" >"$U/user.json"
	check_user_written '{"data":{"name":"Grace","n":[1,2]}}'
}

@test "tee user.json" {
	echo '{"data":{"name":"Tee"}}' | tee "$U/user.json" >/dev/null
	check_user_written '{"data":{"name":"Tee"}}'
}

@test "a write in many small pieces is committed once, at close" {
	# one process, one descriptor: (a shell's forks would each close, and
	# so flush, a copy of it)
	jnode -e '
		const fs = require("fs");
		const fd = fs.openSync(process.argv[1], "w");
		for (const part of [`{"data":`, `{"name":`, `"Slow"}}\n`]) {
			fs.writeSync(fd, part);
			Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
		}
		fs.closeSync(fd);' "$U/user.json"
	check_user_written '{"data":{"name":"Slow"}}'
}

@test ">> appends: an appended newline is a no-op" {
	printf '\n' >>"$U/user.json"
	run probe append-close "$U/user.json" $'\n'
	[ "$output" = OK ]
	jq -e . "$U/user.json" >/dev/null
	check_unchanged
}

@test ">> appends: appended JSON makes the content invalid, EINVAL, nothing changes" {
	run probe append-close "$U/user.json" '{"data":{}}'
	[ "$output" = EINVAL ]
	[ "$(jq -r .data.name "$U/user.json")" = Ada ]
	check_unchanged
}

@test "truncate -s 0 is rejected (empty is not JSON) and changes nothing" {
	run truncate -s 0 "$U/user.json"
	[ "$status" -ne 0 ]
	[ "$(jq -r .data.name "$U/user.json")" = Ada ]
	check_unchanged
}

@test "truncate dropping the trailing newline is a no-op" {
	size="$(stat -c %s "$U/user.json")"
	truncate -s $((size - 1)) "$U/user.json"
	check_unchanged
}

@test "cp over user.json" {
	echo '{"data":{"name":"Copied"}}' >"$JFS_TMP/new.json"
	cp "$JFS_TMP/new.json" "$U/user.json"
	check_user_written '{"data":{"name":"Copied"}}'
}

@test "cp -p over user.json (fchown, fchmod, utimens succeed)" {
	echo '{"data":{"name":"Preserved"}}' >"$JFS_TMP/new.json"
	chmod 600 "$JFS_TMP/new.json"
	touch -d 2020-01-01 "$JFS_TMP/new.json"
	cp -p "$JFS_TMP/new.json" "$U/user.json"
	check_user_written '{"data":{"name":"Preserved"}}'
}

@test "chmod, chown and touch on an element file succeed and store nothing" {
	chmod 600 "$U/user.json"
	chown "$(id -u):$(id -g)" "$U/user.json"
	touch "$U/user.json"
	touch -d 2020-01-01 "$U/user.json"
	check_unchanged
}

@test "sed -i edits user.json through a scratch file and rename" {
	sed -i 's/"Ada"/"Grace"/' "$U/user.json"
	check_no_leftovers
	check_user_written '{"data":{"name":"Grace","score":3,"tags":["a","b"]}}'
}

@test "sed -i with no match is a no-op" {
	sed -i 's/NoSuchText/x/' "$U/user.json"
	check_no_leftovers
	check_unchanged
}

@test "jq ... > tmp && mv tmp user.json, tmp in the user directory" {
	jq '.data.score = 4' "$U/user.json" >"$U/user.json.tmp" && mv "$U/user.json.tmp" "$U/user.json"
	check_no_leftovers
	check_user_written '{"data":{"name":"Ada","score":4,"tags":["a","b"]}}'
}

@test "jq ... > tmp && mv tmp user.json, tmp outside the mount, with allow_delete" {
	umount_jfs
	mount_jfs -o allow_delete
	jq '.data.score = 5' "$U/user.json" >"$JFS_TMP/tmp.json" && mv "$JFS_TMP/tmp.json" "$U/user.json"
	check_user_written '{"data":{"name":"Ada","score":5,"tags":["a","b"]}}'
}

@test "mv from outside the mount without allow_delete never loses the element" {
	# mv across filesystems unlinks the target first: that unlink is EPERM
	# without allow_delete, so mv may fail; either way nothing is lost.
	jq '.data.score = 6' "$U/user.json" >"$JFS_TMP/tmp.json"
	mv "$JFS_TMP/tmp.json" "$U/user.json" || true
	[ "$(jq -r .data.name "$U/user.json")" = Ada ]
	umount_jfs
	[ "$(stored_field alice .user.data.name)" = '"Ada"' ]
}

# 'backupskip' is cleared: its default skips backups for files under /tmp,
# where the test mounts live; a mount elsewhere gets vim's real defaults.
@test "vim with default settings (swap file, writebackup) edits user.json" {
	command -v vim >/dev/null || skip "no vim"
	(cd "$U" && vim -u DEFAULTS -i NONE -es -c 'set backupskip=' -c '%s/"Ada"/"Vim"/' -c 'wq' user.json) </dev/null
	check_no_leftovers
	check_user_written '{"data":{"name":"Vim","score":3,"tags":["a","b"]}}'
}

@test "vim with 'backup' keeps user.json~ as a scratch file" {
	command -v vim >/dev/null || skip "no vim"
	(cd "$U" && vim -u DEFAULTS -i NONE -es -c 'set backup backupskip=' -c '%s/"Ada"/"Bak"/' -c 'wq' user.json) </dev/null
	[ -f "$U/user.json~" ]
	[ "$(jq -r .data.name "$U/user.json~")" = Ada ]
	check_user_written '{"data":{"name":"Bak","score":3,"tags":["a","b"]}}'
}

@test "vim with backupcopy=yes (writes in place) edits user.json" {
	command -v vim >/dev/null || skip "no vim"
	(cd "$U" && vim -u DEFAULTS -i NONE -es -c 'set backupcopy=yes backupskip=' -c '%s/"Ada"/"Inplace"/' -c 'wq' user.json) </dev/null
	check_no_leftovers
	check_user_written '{"data":{"name":"Inplace","score":3,"tags":["a","b"]}}'
}

@test "nano with default settings edits user.json" {
	command -v nano >/dev/null || skip "no nano"
	command -v tmux >/dev/null || skip "no tmux to drive nano"
	local sock="jfs-nano-$$"
	tmux -L "$sock" -f /dev/null new-session -d -x 100 -y 30 \
		"cd '$U' && HOME='$JFS_TMP' nano user.json"
	sleep 0.5
	tmux -L "$sock" send-keys 'C-\'
	sleep 0.2
	tmux -L "$sock" send-keys '"Ada"' Enter
	sleep 0.2
	tmux -L "$sock" send-keys '"Nano"' Enter
	sleep 0.2
	tmux -L "$sock" send-keys A
	sleep 0.2
	tmux -L "$sock" send-keys C-s
	sleep 0.5
	tmux -L "$sock" send-keys C-x
	for _ in $(seq 50); do
		tmux -L "$sock" has-session 2>/dev/null || break
		sleep 0.1
	done
	if tmux -L "$sock" has-session 2>/dev/null; then
		tmux -L "$sock" capture-pane -p >&2 || true
		tmux -L "$sock" kill-server || true
		return 1
	fi
	check_no_leftovers
	check_user_written '{"data":{"name":"Nano","score":3,"tags":["a","b"]}}'
}

@test "python shutil.copy over user.json" {
	command -v python3 >/dev/null || skip "no python3"
	echo '{"data":{"name":"Py"}}' >"$JFS_TMP/new.json"
	python3 -c 'import shutil, sys; shutil.copy(sys.argv[1], sys.argv[2])' "$JFS_TMP/new.json" "$U/user.json"
	check_user_written '{"data":{"name":"Py"}}'
}

@test "touch of an element file is a no-op" {
	touch "$U/user.json" "$U/createdAt" "$U/session.json"
	check_unchanged
}

@test "cp of the same content is a no-op" {
	cp "$U/user.json" "$JFS_TMP/same.json"
	cp "$JFS_TMP/same.json" "$U/user.json"
	check_unchanged
}

@test "the same value differently formatted is a no-op" {
	jq -c . "$U/user.json" >"$JFS_TMP/compact.json"
	cat "$JFS_TMP/compact.json" >"$U/user.json"
	check_unchanged
}

@test "a write is rendered pretty and visible at once through the mount" {
	umount_jfs
	mount_jfs -o cache_timeout=60
	printf '%s' '{"data":{"b":1,"a":[1,{"c":null}]}}' >"$U/user.json"
	printf '{\n  "data": {\n    "b": 1,\n    "a": [\n      1,\n      {\n        "c": null\n      }\n    ]\n  }\n}\n' >"$JFS_TMP/want"
	cmp "$U/user.json" "$JFS_TMP/want"
	[ "$(stat -c %s "$U/user.json")" = "$(wc -c <"$JFS_TMP/want")" ]
	[ "$(jq -r .user.data.b "$U/record.json")" = 1 ]
}

@test "a write sets updatedAt, shown in the updatedAt file and the mtime" {
	echo '{"data":{"name":"Now"}}' >"$U/user.json"
	u="$(cat "$U/updatedAt")"
	[[ "$u" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$ ]]
	(($(iso_ms "$u") >= T0 - 1000))
	(($(stat -c %Y "$U/user.json") >= T0 / 1000 - 1))
	(($(stat -c %Y "$U") >= T0 / 1000 - 1))
	check_user_written '{"data":{"name":"Now"}}'
}

@test "writing session.json refreshes the session's updatedAt" {
	jq -c '.data.step = 3' "$U/session.json" >"$JFS_TMP/s.json"
	cp "$JFS_TMP/s.json" "$U/session.json"
	umount_jfs
	[ "$(stored_field alice .session.data.step)" = 3 ]
	[ "$(stored_field alice .session.id)" = '"s-1"' ]
	(($(iso_ms "$(stored_field alice .session.updatedAt | jq -r .)") >= T0 - 1000))
	assert_updated_since alice "$T0"
	[ "$(stored_field alice .user.data.name)" = '"Ada"' ]
}

@test "writing history/1.json replaces items[1] only" {
	echo '{"output":[{"message":"rewritten"}],"nlu":{"intent":"B2"}}' >"$U/history/1.json"
	umount_jfs
	# the stored 4 items are trimmed to history.size (3) by the write, as Jovo's save does
	[ "$(stored_field alice '[.history.items[].output[0].message]')" = '["newest","rewritten","old"]' ]
	assert_updated_since alice "$T0"
}

@test "writing createdAt stores the new timestamp" {
	echo 2024-05-06T07:08:09.010Z >"$U/createdAt"
	[ "$(cat "$U/createdAt")" = 2024-05-06T07:08:09.010Z ]
	umount_jfs
	[ "$(stored_field alice .createdAt)" = '"2024-05-06T07:08:09.010Z"' ]
}

@test "unknown top-level keys are kept exactly across edits" {
	umount_jfs
	seed_json "[$(full_item alice | jq -c '.zz = {"big": 12345678901234567000, "f": 0.1, "s": "\u00e9\u2028", "e": [], "o": {}}')]"
	BEFORE="$(stored alice)"
	mount_jfs
	sed -i 's/"Ada"/"K"/' "$U/user.json"
	echo '{"output":[]}' >"$U/history/0.json"
	umount_jfs
	jnode -e '
		const fs = require("fs");
		const u = JSON.parse(fs.readFileSync(process.argv[1], "utf8")).find(u => u.id === "alice");
		const want = {big: 12345678901234567000, f: 0.1, s: "\u00e9\u2028", e: [], o: {}};
		if (JSON.stringify(u.zz) !== JSON.stringify(want)) { console.error(JSON.stringify(u.zz)); process.exit(1); }
		if (JSON.stringify(u.custom) !== JSON.stringify({plugin: "x", n: [1, 2.5, "three"], nested: {deep: true}})) process.exit(1);
		' "$JFS_DB" 2>&1 || [ "$JOVOFS_TEST_BACKEND" != filedb ]
	diff <(stored alice | jq -S '.zz, .custom') <(jq -S '.zz, .custom' <<<"$BEFORE")
}

@test "mkdir creates a record with createdAt = updatedAt = now and user {data:{}}" {
	run probe mkdir "$JFS_MNT/newbie"
	[ "$output" = OK ]
	[ "$(jq -c . "$JFS_MNT/newbie/user.json")" = '{"data":{}}' ]
	umount_jfs
	[ "$(stored_field newbie .user)" = '{"data":{}}' ]
	c="$(stored_field newbie .createdAt | jq -r .)"
	[ "$c" = "$(stored_field newbie .updatedAt | jq -r .)" ]
	(($(iso_ms "$c") >= T0 - 1000))
	backend_ids | grep -qx alice
}

@test "mkdir of an existing user is EEXIST" {
	run probe mkdir "$U"
	[ "$output" = EEXIST ]
	check_unchanged
}

@test "scratch files behave like tmpfs files and never reach the store" {
	echo hello >"$U/notes.txt"
	echo more >>"$U/notes.txt"
	[ "$(cat "$U/notes.txt")" = "$(printf 'hello\nmore')" ]
	[ "$(stat -c %s "$U/notes.txt")" = 11 ]
	chmod 600 "$U/notes.txt"
	[ "$(stat -c %a "$U/notes.txt")" = 600 ]
	echo x >"$U/history/scratch.tmp"
	ls "$U" | grep -qx notes.txt
	rm "$U/notes.txt" "$U/history/scratch.tmp"
	[ ! -e "$U/notes.txt" ]
	echo again >"$U/.hidden.swp"
	check_unchanged
	mount_jfs
	[ ! -e "$U/.hidden.swp" ]
}

@test "rename of a scratch file onto an element commits it" {
	echo '{"data":{"name":"Renamed"}}' >"$U/4913"
	run probe rename "$U/4913" "$U/user.json"
	[ "$output" = OK ]
	[ ! -e "$U/4913" ]
	check_user_written '{"data":{"name":"Renamed"}}'
}

@test "rename of invalid scratch content onto an element fails with EINVAL" {
	echo '{"data":' >"$U/bad.tmp"
	run probe rename "$U/bad.tmp" "$U/user.json"
	[ "$output" = EINVAL ]
	[ "$(jq -r .data.name "$U/user.json")" = Ada ]
	check_unchanged
}

@test "rename in history/ of a scratch file onto N.json commits it" {
	echo '{"output":[{"message":"via rename"}]}' >"$U/history/0.json.new"
	run probe rename "$U/history/0.json.new" "$U/history/0.json"
	[ "$output" = OK ]
	umount_jfs
	[ "$(stored_field alice '.history.items[0].output[0].message')" = '"via rename"' ]
	[ "$(stored_field alice '[.history.items[1:][].output[0].message]')" = '["middle","old"]' ]
}

@test "rename of an element to another name copies it and deletes nothing" {
	run probe rename "$U/user.json" "$U/user.json~"
	[ "$output" = OK ]
	[ "$(jq -r .data.name "$U/user.json~")" = Ada ]
	[ -f "$U/user.json" ]
	echo '{"data":{"name":"Next"}}' >"$U/user.json"
	rm "$U/user.json~"
	check_user_written '{"data":{"name":"Next"}}'
}

@test "record.json cannot be written" {
	run probe write-close "$U/record.json" '{"id":"alice"}'
	[ "$output" != OK ]
	check_unchanged
}

@test "writes to many users in a row are all stored" {
	umount_jfs
	for i in $(seq 0 49); do echo "$(item "u$i")"; done | jq -cs . >"$JFS_TMP/seed.json"
	backend_seed "$JFS_TMP/seed.json"
	mount_jfs
	for i in $(seq 0 49); do echo "{\"data\":{\"i\":$i}}" >"$JFS_MNT/u$i/user.json"; done
	umount_jfs
	for i in $(seq 0 49); do
		[ "$(stored_field "u$i" .user.data.i)" = "$i" ] || { echo "u$i: $(stored_field "u$i" .user)" >&2; return 1; }
	done
}
