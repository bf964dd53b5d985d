#!/usr/bin/env bats
# FileDb only: the file format, atomic replace, crashes, a Jovo app writing
# the same file, half-written files.

load common

setup() {
	require_backend filedb
	jfs_setup
}

teardown() {
	local rc=0
	jfs_teardown || rc=1
	# the small tmpfs some tests keep the file on
	if mountpoint -q "$BATS_TEST_TMPDIR/small" 2>/dev/null; then
		umount -l "$BATS_TEST_TMPDIR/small" || rc=1
	fi
	return $rc
}

# valid_db [N]: the file is a JSON array (of N items)
valid_db() {
	jnode -e '
		const a = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
		if (!Array.isArray(a)) { console.error("not an array"); process.exit(1); }
		if (process.argv[2] && a.length !== Number(process.argv[2])) {
			console.error("holds", a.length, "items, want", process.argv[2]); process.exit(1);
		}' "$JFS_DB" "${1:-}"
}

seed_users() { # seed_users PREFIX COUNT
	jnode -e '
		const [p, n] = process.argv.slice(1);
		const a = [];
		for (let i = 0; i < Number(n); i++)
			a.push({id: p + i, user: {data: {n: 0}}, createdAt: "2025-01-01T00:00:00.000Z",
				updatedAt: "2025-01-01T00:00:00.000Z"});
		process.stdout.write(JSON.stringify(a));' "$1" "$2" >"$JFS_TMP/seed-$1.json"
	backend_seed "$JFS_TMP/seed-$1.json"
}

@test "-o filedb=PATH mounts the file without a config" {
	seed_json "[$(item alice '{"k":"cli"}')]"
	"$JOVOFS_BIN" -f -o "filedb=$JFS_DB" "$JFS_MNT" >>"$JFS_LOG" 2>&1 3>&- &
	JFS_PID=$!
	for _ in $(seq 500); do mountpoint -q "$JFS_MNT" && break; sleep 0.02; done
	[ "$(jq -r .data.k "$JFS_MNT/alice/user.json")" = cli ]
}

@test "a FileDb that is not a JSON array refuses to mount, with a message" {
	for content in '{"id":"alice"}' '[{"id":"a"},' 'garbage'; do
		printf '%s' "$content" >"$JFS_DB"
		make_config
		run timeout 20 "$JOVOFS_BIN" -f -o "config=$JFS_CONFIG" -o retry_timeout=500 "$JFS_MNT"
		[ "$status" -ne 0 ] && [ "$status" -ne 124 ] || { echo "'$content': status $status" >&2; return 1; }
		[[ "$output" == *db.json* ]] || { echo "message does not name the file: $output" >&2; return 1; }
		not jfs_is_mounted
		[ "$(cat "$JFS_DB")" = "$content" ]
		printf '%s\n' "$output" >>"$JFS_LOG"
		check_log_clean
	done
}

@test "a missing FileDb is created as [] (as Jovo does), but not with -o ro" {
	rm -f "$JFS_DB"
	make_config
	# -o ro: either an empty mount or a refusal naming the file; never a file
	if mount_jfs -o ro 2>/dev/null; then
		[ -z "$(ls "$JFS_MNT")" ]
		umount_jfs
	else
		grep -q db.json "$JFS_LOG"
	fi
	[ ! -e "$JFS_DB" ]
	mount_jfs
	mkdir "$JFS_MNT/alice"
	umount_jfs
	valid_db 1
	[ "$(stored_field alice .user)" = '{"data":{}}' ]
}

@test "a write keeps the file a JSON array Jovo reads: order, other users, unknown keys" {
	seed_json "[$(full_item a1), $(full_item a2), $(full_item a3)]"
	cp "$JFS_DB" "$JFS_TMP/before.json"
	mount_jfs
	echo '{"data":{"name":"Edited"}}' >"$JFS_MNT/a2/user.json"
	umount_jfs
	valid_db 3
	jnode -e '
		const fs = require("fs");
		const [before, after] = process.argv.slice(1).map(f => JSON.parse(fs.readFileSync(f, "utf8")));
		if (after.map(u => u.id).join() !== "a1,a2,a3") throw new Error("order " + after.map(u => u.id));
		for (const i of [0, 2])
			if (JSON.stringify(after[i]) !== JSON.stringify(before[i])) throw new Error("user " + i + " changed");
		const b = before[1], a = after[1];
		if (a.user.data.name !== "Edited") throw new Error("edit missing");
		for (const k of Object.keys(b))
			if (k !== "user" && k !== "updatedAt" && JSON.stringify(a[k]) !== JSON.stringify(b[k]))
				throw new Error("key " + k + " changed");
		if (Object.keys(a).join() !== Object.keys(b).join()) throw new Error("key order " + Object.keys(a));
		' "$JFS_TMP/before.json" "$JFS_DB"
}

@test "the file is replaced atomically (rename) and no temp file is left" {
	seed_json "[$(item alice)]"
	ino="$(stat -c %i "$JFS_DB")"
	mount_jfs
	echo '{"data":{"x":1}}' >"$JFS_MNT/alice/user.json"
	umount_jfs
	[ "$(stat -c %i "$JFS_DB")" != "$ino" ]
	run ls -A "$(dirname "$JFS_DB")"
	[ "$output" = db.json ]
}

@test "a FileDb that is a symbolic link: saves replace its target, which keeps owner, group and mode; the link stays" {
	seed_json "[$(item alice)]"
	mkdir "$BATS_TEST_TMPDIR/releases"
	mv "$JFS_DB" "$BATS_TEST_TMPDIR/releases/db.json"
	ln -s ../releases/db.json "$JFS_DB"
	chown 1234:5678 "$BATS_TEST_TMPDIR/releases/db.json"
	chmod 0640 "$BATS_TEST_TMPDIR/releases/db.json"
	mount_jfs
	[ "$(probe write-fsync "$JFS_MNT/alice/user.json" '{"data":{"x":1}}')" = OK ]
	[ "$(stored_field alice .user.data.x)" = 1 ]
	echo '{"data":{"x":2}}' >"$JFS_MNT/alice/user.json"
	umount_jfs
	[ -L "$JFS_DB" ]
	[ "$(readlink "$JFS_DB")" = ../releases/db.json ]
	[ "$(stat -c '%u:%g %a' "$BATS_TEST_TMPDIR/releases/db.json")" = "1234:5678 640" ]
	[ "$(stored_field alice .user.data.x)" = 2 ]
	[ "$(ls -A "$(dirname "$JFS_DB")")" = db.json ]
	[ "$(ls -A "$BATS_TEST_TMPDIR/releases")" = db.json ]
	grep -q "is a link to '$BATS_TEST_TMPDIR/releases/db.json'" "$JFS_LOG"
}

@test "items without a string id (written by someone else) are skipped with a warning; the others mount and saves keep them" {
	seed_json "[$(item alice), {\"user\":{\"data\":{\"orphan\":1}}}, {\"id\":42,\"user\":{}}, $(item bob), {\"id\":\"alice\\u0000x\"}]"
	mount_jfs
	[ "$(ls "$JFS_MNT" | tr '\n' ' ')" = "alice bob " ]
	grep -q "3 item(s) without a string \"id\"" "$JFS_LOG"
	# find views skip them too
	[ "$(ls "$JFS_MNT/.jovofs/find/user?" | tr '\n' ' ')" = "alice bob " ]
	[ -z "$(ls "$JFS_MNT/.jovofs/find/user.data.orphan=1")" ]
	echo '{"data":{"x":1}}' >"$JFS_MNT/bob/user.json"
	umount_jfs
	[ "$(stored_field bob .user.data.x)" = 1 ]
	[ "$(jq -c '[.[] | select(has("id") | not)]' "$JFS_DB")" = '[{"user":{"data":{"orphan":1}}}]' ]
	[ "$(jq -c '[.[] | select(.id == 42)]' "$JFS_DB")" = '[{"id":42,"user":{}}]' ]
	[ "$(jq -c '[.[].id]' "$JFS_DB")" = '["alice",null,42,"bob","alice\u0000x"]' ]
}

@test "edits that arrive together are written in few replaces" {
	seed_users u 40
	mount_jfs -o write_delay=1000
	jnode -e '
		const fs = require("fs"); const seen = new Set(); const end = Date.now() + Number(process.argv[2]);
		while (Date.now() < end) {
			try { seen.add(fs.statSync(process.argv[1]).ino); } catch (e) {}
			Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
		}
		console.log(seen.size);' "$JFS_DB" 2500 >"$JFS_TMP/inodes" 3>&- &
	local wpid=$!
	for i in $(seq 0 39); do echo "{\"data\":{\"n\":$((i + 1))}}" >"$JFS_MNT/u$i/user.json"; done
	wait "$wpid"
	umount_jfs
	for i in $(seq 0 39); do [ "$(stored_field "u$i" .user.data.n)" = $((i + 1)) ]; done
	echo "distinct inodes seen: $(cat "$JFS_TMP/inodes")"
	[ "$(cat "$JFS_TMP/inodes")" -le 6 ]
}

@test "kill -9 during many writes: the file is never torn, fsync'ed edits are kept" {
	seed_users u 20
	for round in 1 2 3; do
		mount_jfs -o write_delay=20
		: >"$JFS_TMP/acked.$round"
		for w in 0 1 2 3; do
			(
				for i in $(seq 1 400); do
					k=$(((i * 4 + w) % 20))
					v=$((round * 10000 + i * 4 + w))
					r="$(probe write-fsync "$JFS_MNT/u$k/user.json" "{\"data\":{\"n\":$v}}" 2>/dev/null)"
					echo "$k $v $r" >>"$JFS_TMP/acked.$round"
					[ "$r" = OK ] || break
				done
			) 3>&- &
		done
		sleep "$(jnode -e 'console.log((0.6 + Math.random()).toFixed(2))')"
		kill -9 "$JFS_PID"
		wait "$JFS_PID" 2>/dev/null || true
		JFS_PID=
		wait
		jfs_forget_daemon
		check_log_clean
		valid_db 20
		[ "$(grep -c ' OK$' "$JFS_TMP/acked.$round")" -gt 0 ]
		jnode -e '
			const fs = require("fs");
			const round = Number(process.argv[3]);
			const users = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
			const lines = fs.readFileSync(process.argv[2], "utf8").trim().split("\n").map(l => l.split(" "));
			let bad = 0;
			for (let k = 0; k < 20; k++) {
				const n = users.find(u => u.id === "u" + k).user.data.n;
				const mine = lines.filter(l => Number(l[0]) === k);
				const need = Math.max(-1, ...mine.filter(l => l[2] === "OK").map(l => Number(l[1])));
				const tried = mine.map(l => Number(l[1]));
				if (n < need) { console.error("u" + k + ": stored", n, "but fsync acknowledged", need); bad++; }
				if (n >= round * 10000 && !tried.includes(n)) { console.error("u" + k + ": stored", n, "never written"); bad++; }
			}
			process.exit(bad ? 1 : 0);' "$JFS_DB" "$JFS_TMP/acked.$round" "$round"
	done
}

@test "a Jovo app rewriting the file in place meanwhile: no user and no edit is lost" {
	seed_users app- 5
	seed_users mnt- 10
	mount_jfs -o cache_timeout=1
	node "$JFS_E2E_DIR/jovo_filedb_writer.js" "$JFS_DB" 3000 app 5 10 >"$JFS_TMP/app.json" 3>&- &
	local apid=$!
	declare -A last
	local i=0 end=$((SECONDS + 3))
	while ((SECONDS < end)); do
		k=$((i % 10))
		r="$(probe write-close "$JFS_MNT/mnt-$k/user.json" "{\"data\":{\"n\":$((i + 1))}}")"
		if [ "$r" = OK ]; then
			last[$k]=$((i + 1))
		else
			echo "write mnt-$k: $r (retrying)" >&2
		fi
		i=$((i + 1))
		sleep 0.02
	done
	wait "$apid"
	cat "$JFS_TMP/app.json"
	sleep 2
	umount_jfs
	valid_db 15
	[ "$(jq '.lost | length' "$JFS_TMP/app.json")" -eq 0 ]
	[ "$(jq .loops "$JFS_TMP/app.json")" -gt 50 ]
	for k in 0 1 2 3 4; do
		[ "$(stored_field "app-$k" .user.data.counter)" = "$(jq ".counters[\"app-$k\"]" "$JFS_TMP/app.json")" ] || {
			echo "app-$k: stored $(stored_field "app-$k" .user.data.counter), app wrote $(jq ".counters[\"app-$k\"]" "$JFS_TMP/app.json")" >&2
			return 1
		}
	done
	for k in "${!last[@]}"; do
		[ "$(stored_field "mnt-$k" .user.data.n)" = "${last[$k]}" ] || {
			echo "mnt-$k: stored $(stored_field "mnt-$k" .user.data.n), mount wrote ${last[$k]}" >&2
			return 1
		}
	done
	((i > 20))
}

@test "a half-written file: no crash, never read as empty, recovers when whole again" {
	seed_users u 30
	cp "$JFS_DB" "$JFS_TMP/whole.json"
	mount_jfs -o cache_timeout=1
	[ "$(ls "$JFS_MNT" | wc -l)" -eq 30 ]
	size="$(stat -c %s "$JFS_DB")"
	truncate -s $((size / 2)) "$JFS_DB"
	cp "$JFS_DB" "$JFS_TMP/half.json"
	sleep 1.5
	# either the last good listing or an error, never an empty listing
	if out="$(ls "$JFS_MNT" 2>/dev/null)"; then
		n="$(grep -c . <<<"$out" || true)"
		[ "$n" -eq 30 ] || { echo "listed $n users from a half-written file" >&2; return 1; }
	fi
	cat "$JFS_MNT/u3/user.json" >/dev/null 2>&1 || true
	# a write meanwhile must not write back a file that lost users
	(timeout 15 probe write-close "$JFS_MNT/u5/user.json" '{"data":{"n":5}}' >"$JFS_TMP/w.out" 2>&1) 3>&- &
	local wpid=$!
	sleep 0.5
	jfs_daemon_alive
	cmp "$JFS_DB" "$JFS_TMP/half.json" || valid_db 30
	cp "$JFS_TMP/whole.json" "$JFS_DB.new" && mv "$JFS_DB.new" "$JFS_DB"
	wait "$wpid" || true
	sleep 1.5
	jfs_daemon_alive
	[ "$(ls "$JFS_MNT" | wc -l)" -eq 30 ]
	[ "$(jq -c .data "$JFS_MNT/u7/user.json")" = '{"n":0}' ]
	umount_jfs
	valid_db 30
	echo "write during the half-written file: $(cat "$JFS_TMP/w.out")"
	if [ "$(cat "$JFS_TMP/w.out")" = OK ]; then
		[ "$(stored_field u5 .user.data.n)" = 5 ]
	fi
}

@test "an empty file (a Jovo write caught mid-way) at mount time is not taken as []" {
	seed_users u 3
	cp "$JFS_DB" "$JFS_TMP/whole.json"
	: >"$JFS_DB"
	make_config
	( sleep 1; cp "$JFS_TMP/whole.json" "$JFS_DB" ) 3>&- &
	local rpid=$!
	if mount_jfs 2>/dev/null; then
		sleep 1.5
		[ "$(ls "$JFS_MNT" | wc -l)" -eq 3 ]
		echo '{"data":{"n":1}}' >"$JFS_MNT/u1/user.json"
		umount_jfs
	fi
	wait "$rpid"
	valid_db 3
}

# wait_for CMD...: until CMD succeeds, 10 s at most
wait_for() {
	local i
	for i in $(seq 500); do
		"$@" && return 0
		sleep 0.02
	done
	echo "timed out waiting for: $*" >&2
	return 1
}

# foreign_user ID DATA_JSON: rewrite the file in place (as Jovo does) with
# ID's user and updatedAt changed, the other users as they are
foreign_user() {
	jq -c --arg id "$1" --argjson d "$2" --arg u "$(enc_iso "$(iso_now_ms)")" \
		'map(if .id == $id then .user = {data: $d} | .updatedAt = $u else . end)' \
		"$JFS_DB" >"$JFS_TMP/foreign.json"
	cat "$JFS_TMP/foreign.json" >"$JFS_DB"
}

# let uid 65534 reach $JFS_MNT (bats makes its temp dirs 0700)
open_path_for_nobody() {
	local d=$BATS_TEST_TMPDIR
	while [[ "$d" == /tmp/* ]]; do
		chmod o+x "$d"
		d=$(dirname "$d")
	done
}

as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}

@test "an edit after one dropped as a conflict is saved within the write delay, and survives kill -9" {
	seed_json "[$(item alice '{"v":0}'), $(item bob '{"v":0}')]"
	mount_jfs -o write_delay=1500
	cat "$JFS_MNT/alice/user.json" >/dev/null
	echo '{"data":{"v":1}}' >"$JFS_MNT/alice/user.json"
	# the app changes alice's user while the edit waits for its save
	foreign_user alice '{"v":"app"}'
	wait_for grep -q "edit of 'alice' dropped" "$JFS_MNT/.jovofs/errors"
	[[ "$(probe getxattr "$JFS_MNT/alice/user.json" user.jovofs.error)" == *"dropped"* ]]
	run probe write-close "$JFS_MNT/bob/user.json" '{"data":{"v":"bob edited"}}'
	[ "$output" = OK ]
	# within write_delay and one save, without an fsync
	wait_for grep -q 'bob edited' "$JFS_DB"
	kill -9 "$JFS_PID"
	jfs_forget_daemon
	check_log_clean
	[ "$(stored_field bob .user.data.v)" = '"bob edited"' ]
	[ "$(stored_field alice .user.data.v)" = '"app"' ]
}

@test "a dropped edit is reported once, to an fsync of a descriptor that wrote that file, never to another file's or another user's fsync" {
	seed_json "[$(item alice '{"v":0}'), $(item bob '{"v":0}')]"
	mount_jfs -o write_delay=3000,allow_other
	open_path_for_nobody
	local sync="$JFS_TMP/sync"
	probe hold-fsync "$JFS_MNT/alice/user.json" '{"data":{"v":1}}' "$sync" 2 >"$JFS_TMP/held" 3>&- &
	local hpid=$!
	wait_for test -e "$sync.ready"
	foreign_user alice '{"v":"app"}'
	wait_for grep -q "edit of 'alice' dropped" "$JFS_MNT/.jovofs/errors"
	# unrelated descriptors neither get it nor take it away
	[ "$(probe fsync "$JFS_MNT/bob/user.json")" = OK ]
	[ "$(as_nobody "$JFS_PROBE" fsync "$JFS_MNT/bob/user.json")" = OK ]
	[ "$(as_nobody "$JFS_PROBE" fsync "$JFS_MNT/alice/user.json")" = OK ]
	[ "$(probe fsync "$JFS_MNT/alice/user.json")" = OK ]
	touch "$sync.1"
	wait_for test -e "$sync.1.done"
	touch "$sync.2"
	wait "$hpid"
	cat "$JFS_TMP/held"
	[ "$(cat "$JFS_TMP/held")" = "$(printf 'commit OK\nfsync1 ESTALE\nfsync2 OK\nclose OK')" ]
	[[ "$(probe getxattr "$JFS_MNT/alice/user.json" user.jovofs.error)" == *"edit of 'alice' dropped"* ]]
	[ "$(probe getxattr "$JFS_MNT/bob/user.json" user.jovofs.error)" = ENODATA ]
	grep -q 'jovofs_writes_lost_total 1$' "$JFS_MNT/.jovofs/metrics"
}

@test "a failed save (a full filesystem) is reported once to each descriptor whose edit it held, and saved once there is room" {
	local small="$BATS_TEST_TMPDIR/small"
	mkdir -p "$small"
	mount -t tmpfs -o size=256k tmpfs "$small"
	JFS_DB="$small/db.json"
	printf '[]' >"$JFS_DB"
	seed_json "[$(item alice '{"v":0}'), $(item bob '{"v":0}')]"
	make_config
	mount_jfs -o write_delay=1000
	probe hold-fsync "$JFS_MNT/alice/user.json" '{"data":{"v":"a1"}}' "$JFS_TMP/a" 3 >"$JFS_TMP/a.out" 3>&- &
	local apid=$!
	probe hold-fsync "$JFS_MNT/bob/user.json" '{"data":{"v":"b1"}}' "$JFS_TMP/b" 2 >"$JFS_TMP/b.out" 3>&- &
	local bpid=$!
	wait_for test -e "$JFS_TMP/a.ready"
	wait_for test -e "$JFS_TMP/b.ready"
	dd if=/dev/zero of="$small/filler" bs=4k 2>/dev/null || true
	wait_for grep -q "cannot save" "$JFS_MNT/.jovofs/errors"
	touch "$JFS_TMP/a.1"
	wait_for test -e "$JFS_TMP/a.1.done"
	touch "$JFS_TMP/a.2"
	wait_for test -e "$JFS_TMP/a.2.done"
	not grep -q '"a1"' "$JFS_DB"
	rm -f "$small/filler"
	wait_for grep -q '"b1"' "$JFS_DB"
	touch "$JFS_TMP/b.1"
	wait_for test -e "$JFS_TMP/b.1.done"
	touch "$JFS_TMP/b.2" "$JFS_TMP/a.3"
	wait "$apid" "$bpid"
	umount_jfs
	umount "$small" 2>/dev/null || true
	cat "$JFS_TMP/a.out" "$JFS_TMP/b.out"
	# alice's descriptor got the failure from its own fsyncs, bob's once, late
	[ "$(cat "$JFS_TMP/a.out")" = "$(printf 'commit OK\nfsync1 ENOSPC\nfsync2 ENOSPC\nfsync3 OK\nclose OK')" ]
	[ "$(cat "$JFS_TMP/b.out")" = "$(printf 'commit OK\nfsync1 ENOSPC\nfsync2 OK\nclose OK')" ]
}

@test "stress: conflicting app rewrites, failed saves and edits, then kill -9: every acknowledged edit not reported lost is in the file" {
	local small="$BATS_TEST_TMPDIR/small" ids=() pids=() id
	mkdir -p "$small"
	mount -t tmpfs -o size=1m tmpfs "$small"
	JFS_DB="$small/db.json"
	printf '[]' >"$JFS_DB"
	seed_users mnt- 8
	seed_users app- 4
	make_config
	mount_jfs -o write_delay=100
	for k in 0 1 2 3 4 5 6 7; do ids+=("mnt-$k"); done
	for k in 0 1 2 3; do ids+=("app-$k"); done
	for id in "${ids[@]}"; do
		(
			v=0
			while [ ! -e "$JFS_TMP/stop" ]; do
				v=$((v + 1))
				echo "$v $(probe write-close "$JFS_MNT/$id/user.json" "{\"data\":{\"n\":$v}}")" >>"$JFS_TMP/acked.$id"
				# paced, so that the pending set is often only edits the app overtakes
				if [[ "$id" == app-* ]]; then
					sleep "0.$(printf %03d $((RANDOM % 300)))"
				else
					sleep "$((RANDOM % 2)).$(printf %03d $((RANDOM % 1000)))"
				fi
			done
		) 3>&- &
		pids+=($!)
	done
	# the app edits the users it shares with the mount, rewriting the whole file in place
	node "$JFS_E2E_DIR/jovo_filedb_writer.js" "$JFS_DB" 2000 app 4 10 >/dev/null 3>&-
	# a full filesystem: saves fail until there is room again
	dd if=/dev/zero of="$small/filler" bs=4k 2>/dev/null || true
	sleep 2
	rm -f "$small/filler"
	node "$JFS_E2E_DIR/jovo_filedb_writer.js" "$JFS_DB" 1500 app 4 10 >/dev/null 3>&-
	sleep 1
	touch "$JFS_TMP/stop"
	wait "${pids[@]}"
	# every acknowledged edit is due within write_delay plus a retried save (1 s)
	sleep 2.5
	kill -9 "$JFS_PID"
	jfs_forget_daemon
	check_log_clean
	valid_db 12
	echo "dropped edits: $(grep -c "dropped" "$JFS_LOG" || true)"
	local bad=0 last n
	for id in "${ids[@]}"; do
		last="$(awk '$2 == "OK" { v = $1 } END { print v + 0 }' "$JFS_TMP/acked.$id")"
		n="$(stored_field "$id" .user.data.n)"
		if [ "$n" != "$last" ] && ! grep -q "edit of '$id' \(dropped\|lost\)" "$JFS_LOG"; then
			echo "$id: stored n=$n, last acknowledged $last, no loss reported" >&2
			bad=1
		fi
	done
	[ "$bad" = 0 ]
	# the test made both kinds of loss happen
	grep -q "cannot save" "$JFS_LOG"
	grep -q "dropped" "$JFS_LOG"
}

@test "readers of an 8 KiB user.json never get a torn version while an app rewrites the file in place" {
	seed_json "[$(item alice '{"v":0,"pad":"","w":0}'), $(item bob)]"
	mount_jfs
	local r1 r2 apid
	node "$JFS_E2E_DIR/jovo_filedb_stamper.js" "$JFS_DB" alice 8000 8000 5 >"$JFS_TMP/app.json" 3>&- &
	apid=$!
	sleep 0.5
	probe read-stamps "$JFS_MNT/alice/user.json" 7 >"$JFS_TMP/r1" 2>"$JFS_TMP/r1.err" 3>&- &
	r1=$!
	probe read-stamps "$JFS_MNT/alice/user.json" 7 >"$JFS_TMP/r2" 2>"$JFS_TMP/r2.err" 3>&- &
	r2=$!
	wait "$r1" "$r2" "$apid"
	cat "$JFS_TMP/app.json" "$JFS_TMP/r1" "$JFS_TMP/r2" "$JFS_TMP/r1.err" "$JFS_TMP/r2.err"
	[ "$(jq .saves "$JFS_TMP/app.json")" -gt 200 ]
	for r in r1 r2; do
		[[ "$(cat "$JFS_TMP/$r")" =~ ^reads\ ([0-9]+)\ torn\ ([0-9]+)$ ]]
		[ "${BASH_REMATCH[1]}" -gt 100 ]
		[ "${BASH_REMATCH[2]}" -eq 0 ]
	done
}

@test "an id holding a newline cannot forge a line in the log or .jovofs/errors" {
	local evil=$'evil\n2026-01-01T00:00:00.000Z forged: everything is fine'
	seed_json "[$(item "$evil" '{"v":0}')]"
	mount_jfs -o write_delay=2000
	local dir="$JFS_MNT/evil%0A2026-01-01T00:00:00.000Z forged: everything is fine"
	[ -d "$dir" ]
	echo '{"data":{"v":1}}' >"$dir/user.json"
	# the app changes the same user before the save: the edit is dropped, and logged
	foreign_user "$evil" '{"v":"app"}'
	wait_for grep -q "dropped" "$JFS_MNT/.jovofs/errors"
	cat "$JFS_MNT/.jovofs/errors"
	not grep -q '^2026-01-01T00:00:00.000Z forged' "$JFS_MNT/.jovofs/errors"
	not grep -q '^2026-01-01T00:00:00.000Z forged' "$JFS_LOG"
	grep -q 'evil\\x0a2026-01-01T00:00:00.000Z forged' "$JFS_MNT/.jovofs/errors"
}
