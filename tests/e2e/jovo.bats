#!/usr/bin/env bats
# Interoperability with the real Jovo framework (npm @jovotech/* 4.6.2, the
# reference client, tests/jovo/): what a Jovo app writes shows correctly
# through the mount, and what is written through the mount loads in the app.
# Backend-agnostic: run with JOVOFS_TEST_BACKEND=filedb|dynamodb|mongodb.
#
# The Jovo app (tests/jovo/app.js) is told where the store is from
# backend_config_json, so it uses exactly what the mount uses.
#
# Needs node + npm and the npm registry for tests/jovo/install.sh (run once
# per file, a no-op when tests/jovo/node_modules is current). When the
# packages cannot be installed the tests are skipped, saying why; under CI
# (CI set) that is a failure instead, so CI never passes without them.

load common

JOVO_DIR="$JFS_REPO/tests/jovo"
JOVO_APP="$JOVO_DIR/app.js"

setup_file() {
	jfs_setup_file
	export JOVO_SKIP=
	local log="$BATS_FILE_TMPDIR/jovo-install.log"
	if ! "$JOVO_DIR/install.sh" >"$log" 2>&1; then
		if [[ -n "${CI:-}" ]]; then
			echo "tests/jovo/install.sh failed (under CI this fails the suite):" >&2
			cat "$log" >&2
			return 1
		fi
		JOVO_SKIP="the Jovo packages cannot be installed (tests/jovo/install.sh: $(tail -n 1 "$log"))"
	fi
}

teardown_file() {
	jfs_teardown_file
}

setup() {
	[[ -z "${JOVO_SKIP:-}" ]] || skip "$JOVO_SKIP"
	jfs_setup
	# the app and the mount store the same elements: all of them
	JOVO_STORED="$ALL_ON"
	jovo_db_args
}

teardown() {
	jfs_teardown
}

# --- helpers ----------------------------------------------------------------

# JOVO_DB=(...): app.js's database options for the store backend_setup made,
# read from backend_config_json (the same JSON the mount's config gets).
jovo_db_args() {
	local cfg
	cfg="$(backend_config_json)"
	case "$(jq -r .backend <<<"$cfg")" in
	filedb)
		JOVO_DB=(--db filedb --path "$(jq -r .filedb.pathToFile <<<"$cfg")")
		;;
	dynamodb)
		JOVO_DB=(--db dynamodb
			--table "$(jq -r .dynamodb.table.name <<<"$cfg")"
			--key-column "$(jq -r '.dynamodb.table.primaryKeyColumn // "userId"' <<<"$cfg")"
			--region "$(jq -r '.dynamodb.libraryConfig.dynamoDbClient.region // env.AWS_REGION // "us-east-1"' <<<"$cfg")")
		local ep
		ep="$(jq -r '.dynamodb.libraryConfig.dynamoDbClient.endpoint // empty' <<<"$cfg")"
		[[ -z "$ep" ]] || JOVO_DB+=(--endpoint "$ep")
		;;
	mongodb)
		JOVO_DB=(--db mongodb --uri "$(jq -r .mongodb.connectionString <<<"$cfg")"
			--collection "$(jq -r '.mongodb.collectionName // "jovoUsers"' <<<"$cfg")")
		local db
		db="$(jq -r '.mongodb.databaseName // empty' <<<"$cfg")"
		[[ -z "$db" ]] || JOVO_DB+=(--database "$db")
		;;
	*)
		echo "jovo.bats: unknown backend in: $cfg" >&2
		return 1
		;;
	esac
}

# jovo CMD ARGS...: one run of the Jovo app against the test's store; its
# JSON lines on stdout, its stderr shown only when it fails.
jovo() {
	local err="$JFS_TMP/jovo.err"
	if ! AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" \
		AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}" \
		node "$JOVO_APP" "${JOVO_DB[@]}" --stored "$JOVO_STORED" "$@" 2>"$err"; then
		echo "the Jovo app failed: app.js ${JOVO_DB[*]} $*" >&2
		cat "$err" >&2
		return 1
	fi
}

# json_eq LABEL ACTUAL EXPECTED: equal as JSON values (key order ignored)
json_eq() {
	local a e
	a="$(jq -S . <<<"$2")" || { echo "$1: not JSON: $2" >&2; return 1; }
	e="$(jq -S . <<<"$3")"
	if [[ "$a" != "$e" ]]; then
		echo "$1 differs (expected vs actual):" >&2
		diff <(echo "$e") <(echo "$a") >&2 || true
		return 1
	fi
}

# file_is LABEL FILE EXPECTED_CONTENT: byte-exact
file_is() {
	local got
	got="$(cat "$2"; echo x)" || { echo "$1: cannot read $2" >&2; return 1; }
	got="${got%x}"
	if [[ "$got" != "$3" ]]; then
		echo "$1: $2 differs (expected vs actual):" >&2
		diff <(printf '%s' "$3") <(printf '%s' "$got") >&2 || true
		return 1
	fi
}

# file_is_json LABEL FILE JSON: FILE holds what jovofs renders for the
# stored value JSON: JSON.stringify(v, null, 2) + "\n", byte for byte
file_is_json() {
	local want="$JFS_TMP/want.json"
	js_pretty <<<"$3" >"$want"
	if ! cmp -s "$want" "$2"; then
		echo "$1: $2 differs (expected vs actual):" >&2
		diff "$want" "$2" >&2 || true
		return 1
	fi
}

# wait_until SECS CMD...: retry CMD (quietly) until it succeeds, at most SECS;
# the last try's output is shown when it never does
wait_until() {
	local secs=$1
	shift
	local deadline=$((SECONDS + secs))
	while ((SECONDS < deadline)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	"$@"
}

# stored_is ID JQ_BOOL: the stored item satisfies the jq condition
stored_is() {
	local rec
	rec="$(backend_get "$1")" || { echo "no stored item '$1'" >&2; return 1; }
	jq -e "$2" <<<"$rec" >/dev/null || {
		echo "stored item '$1' fails '$2': $rec" >&2
		return 1
	}
}

# file_jq FILE JQ_BOOL
file_jq() {
	jq -e "$2" "$1" >/dev/null 2>&1 || {
		echo "$1 fails '$2':" >&2
		cat "$1" >&2
		return 1
	}
}

# The record's id, whatever the backend calls the key.
no_id() {
	jq -c 'del(.id, .userId, ._id)' <<<"$1"
}

# check_user_shows ID: every file of the user's directory equals the stored
# item (as backend_get prints it), byte for byte where rendered.
check_user_shows() {
	# every check ends in "|| return 1": this also runs where errexit is off
	# (under wait_until and run)
	local id=$1 rec d
	rec="$(backend_get "$id")" || { echo "no stored item '$id'" >&2; return 1; }
	d="$JFS_MNT/$(enc_name "$id")"
	[[ -d "$d" ]] || { echo "no directory $d for '$id'" >&2; ls -la "$JFS_MNT" >&2; return 1; }

	file_is_json "$id user.json" "$d/user.json" "$(jq -c .user <<<"$rec")" || return 1
	file_is_json "$id session.json" "$d/session.json" "$(jq -c .session <<<"$rec")" || return 1
	file_is "$id createdAt" "$d/createdAt" "$(jq -r .createdAt <<<"$rec")"$'\n' || return 1
	file_is "$id updatedAt" "$d/updatedAt" "$(jq -r .updatedAt <<<"$rec")"$'\n' || return 1

	local n i listed want=""
	n="$(jq '.history.items // [] | length' <<<"$rec")"
	if ((n > 3)); then n=3; fi
	for ((i = 0; i < n; i++)); do
		file_is_json "$id history/$i.json" "$d/history/$i.json" \
			"$(jq -c ".history.items[$i]" <<<"$rec")" || return 1
		want+="$i.json "
	done
	listed="$(cd "$d/history" && find . -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -n | tr '\n' ' ')" ||
		return 1
	assert_equal_str "$listed" "$want" || return 1

	# record.json is the whole stored item (the id's key aside)
	local whole
	whole="$(cat "$d/record.json")" || return 1
	json_eq "$id record.json" "$(no_id "$whole")" "$(no_id "$rec")" || return 1
	jq -e --arg id "$id" '(.id // .userId // ._id) == $id' <<<"$whole" >/dev/null || {
		echo "$id record.json does not carry the id: $whole" >&2
		return 1
	}
}

ODD_ID='amzn1.ask.account/odd%id'

# --- (a) Jovo writes, the mount shows ---------------------------------------

@test "jovo: users written by the Jovo app show exactly through the mount" {
	# 7 requests; "+" runs them in one process, as a Jovo server would
	jovo set alice name '"Ada"' score 3 \
		+ set alice tags '["a","b"]' ratio 0.1 \
		+ set bob nested '{"x":[1,2.5,null,true,false],"s":"é \"q\" \\ ✓","e":{}}' \
		+ set bob tiny -2.5e-7 \
		+ set bob neg -17 \
		+ set bob last '"x"' \
		+ set "$ODD_ID" n 1 empty '[]' >/dev/null

	local before_alice before_bob
	before_alice="$(backend_get alice)"
	before_bob="$(backend_get bob)"

	make_config "$ALL_ON"
	mount_jfs

	# the users, and nothing else
	local want got
	want="$(for id in alice bob "$ODD_ID"; do enc_name "$id"; echo; done | sort)"
	got="$(ls "$JFS_MNT" | sort)"
	assert_equal_str "$got" "$want"

	# user.json's data is what the app set
	json_eq "alice data" "$(jq -c .data "$JFS_MNT/alice/user.json")" \
		'{"name":"Ada","score":3,"tags":["a","b"],"ratio":0.1}'
	json_eq "bob data" "$(jq -c .data "$JFS_MNT/bob/user.json")" \
		'{"nested":{"x":[1,2.5,null,true,false],"s":"é \"q\" \\ ✓","e":{}},"tiny":-2.5e-7,"neg":-17,"last":"x"}'
	json_eq "odd data" "$(jq -c .data "$JFS_MNT/$(enc_name "$ODD_ID")/user.json")" '{"n":1,"empty":[]}'
	# numbers rendered as JavaScript prints them
	grep -q '"ratio": 0.1$' "$JFS_MNT/alice/user.json"
	grep -q '"tiny": -2.5e-7,$' "$JFS_MNT/bob/user.json"

	# the session the app keeps, and its newest history items
	file_jq "$JFS_MNT/alice/session.json" '.id == "session-alice" and .data == {"last":"ratio"}'
	file_jq "$JFS_MNT/bob/session.json" '.data == {"last":"last"}'
	file_jq "$JFS_MNT/alice/history/0.json" '.output[0].message == "set tags,ratio"'
	file_jq "$JFS_MNT/alice/history/1.json" '.output[0].message == "set name,score"'
	[[ ! -e "$JFS_MNT/alice/history/2.json" ]]
	# bob made 4 requests; Jovo keeps size (3) items, newest first
	file_jq "$JFS_MNT/bob/history/0.json" '.output[0].message == "set last"'
	file_jq "$JFS_MNT/bob/history/2.json" '.output[0].message == "set tiny"'

	# every file equals the stored item, byte for byte
	for id in alice bob "$ODD_ID"; do
		check_user_shows "$id"
	done

	# reading through the mount changed nothing
	umount_jfs
	json_eq "alice after reading" "$(backend_get alice)" "$before_alice"
	json_eq "bob after reading" "$(backend_get bob)" "$before_bob"
}

# --- (b) edits through the mount load in the app ------------------------------

@test "jovo: edits through the mount load in the Jovo app, and its next save keeps them" {
	jovo set alice name '"Ada"' score 3 + set bob name '"Bob"' >/dev/null
	make_config "$ALL_ON"
	mount_jfs
	local u="$JFS_MNT/alice/user.json" out

	# jq + mv, as an operator edits: change a value, add a key
	jq '.data.score = 4 | .data.city = "Linz"' "$u" >"$JFS_MNT/alice/user.json.tmp"
	mv "$JFS_MNT/alice/user.json.tmp" "$u"
	sync "$u"
	wait_until 5 stored_is alice '.user.data == {"name":"Ada","score":4,"city":"Linz"}'

	out="$(jovo get alice)"
	json_eq "app sees the jq+mv edit" "$out" \
		'{"user":{"name":"Ada","score":4,"city":"Linz"},"session":{"last":"score"}}'

	# echo > user.json, after the app saved again (its get bumped updatedAt,
	# the session and the history: other elements than the one edited)
	echo '{"data":{"name":"Ada","score":4,"city":"Linz","vip":true,"ratio":0.1}}' >"$u"
	sync "$u"
	wait_until 5 stored_is alice '.user.data.vip == true'
	out="$(jovo get alice)"
	json_eq "app sees the echo edit" "$out" \
		'{"user":{"name":"Ada","score":4,"city":"Linz","vip":true,"ratio":0.1},"session":{"last":"score"}}'

	# the session's data, edited through the mount, is the app's session
	# wait until the mount shows the app's last save of the session (its
	# updatedAt, not only its data): an edit of an older version is ESTALE
	local s="$JFS_MNT/alice/session.json" su
	su="$(backend_get alice | jq -c .session.updatedAt)"
	wait_until 10 file_jq "$s" ".data == {\"last\":\"score\"} and .updatedAt == $su"
	jq '.data.step = 7' "$s" >"$JFS_TMP/session.json"
	cat "$JFS_TMP/session.json" >"$s"
	sync "$s"
	wait_until 5 stored_is alice '.session.data.step == 7'
	out="$(jovo get alice)"
	json_eq "app sees the session edit" "$out" \
		'{"user":{"name":"Ada","score":4,"city":"Linz","vip":true,"ratio":0.1},"session":{"last":"score","step":7}}'

	# the app's next set keeps the mount's edits
	out="$(jovo set alice score 5)"
	json_eq "app's set" "$out" \
		'{"user":{"name":"Ada","score":5,"city":"Linz","vip":true,"ratio":0.1},"session":{"last":"score","step":7}}'
	stored_is alice '.user.data == {"name":"Ada","score":5,"city":"Linz","vip":true,"ratio":0.1}'
	stored_is alice '.session.data == {"last":"score","step":7}'

	# and the mount shows the app's save within its cache time
	wait_until 10 file_jq "$u" '.data.score == 5'
	wait_until 10 file_jq "$JFS_MNT/alice/history/0.json" '.output[0].message == "set score"'
	check_user_shows alice

	# the other user was not touched by any of it
	out="$(jovo get bob)"
	json_eq "bob" "$out" '{"user":{"name":"Bob"},"session":{"last":"name"}}'
	check_user_shows bob
}

# --- (c) mkdir through the mount creates a user the app loads ----------------

@test "jovo: a user made with mkdir through the mount loads in the Jovo app" {
	jovo set alice name '"Ada"' >/dev/null
	make_config "$ALL_ON"
	mount_jfs

	mkdir "$JFS_MNT/dave"
	file_jq "$JFS_MNT/dave/user.json" '. == {"data":{}}'
	sync "$JFS_MNT/dave/user.json"
	wait_until 5 stored_is dave '.user == {"data":{}}'
	local created
	created="$(backend_get dave | jq -r .createdAt)"
	[[ "$created" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$ ]]

	local out
	local lines
	out="$(jovo get dave + set dave k '"v"')"
	mapfile -t lines <<<"$out"
	json_eq "app loads dave" "${lines[0]}" '{"user":{},"session":{}}'
	json_eq "app's set for dave" "${lines[1]}" '{"user":{"k":"v"},"session":{"last":"k"}}'
	# the app took the record as an existing user: createdAt kept
	stored_is dave ".createdAt == \"$created\" and .user.data == {\"k\":\"v\"}"
	wait_until 10 file_jq "$JFS_MNT/dave/user.json" '.data == {"k":"v"}'

	# mkdir, then user.json written through the mount, before the app ever saw it
	mkdir "$JFS_MNT/$(enc_name "$ODD_ID")"
	echo '{"data":{"from":"mount","n":[1,2]}}' >"$JFS_MNT/$(enc_name "$ODD_ID")/user.json"
	sync "$JFS_MNT/$(enc_name "$ODD_ID")/user.json"
	wait_until 5 stored_is "$ODD_ID" '.user.data.from == "mount"'
	out="$(jovo get "$ODD_ID")"
	json_eq "app loads the odd id" "$out" '{"user":{"from":"mount","n":[1,2]},"session":{}}'

	wait_until 10 check_user_shows dave
	wait_until 10 check_user_shows "$ODD_ID"
	check_user_shows alice
}

# --- (d) what the mount writes is a valid Jovo store ---------------------------

@test "jovo: a store written through the mount is valid for Jovo, every user loads" {
	jovo set alice name '"Ada"' score 3 + set bob name '"Bob"' + set carol name '"Carol"' >/dev/null
	make_config "$ALL_ON"
	mount_jfs

	echo '{"data":{"name":"Ada","score":0.1,"list":[1,"two",{"three":3}]}}' >"$JFS_MNT/alice/user.json"
	jq '.data.step = 2' "$JFS_MNT/bob/session.json" >"$JFS_TMP/s.json"
	cp "$JFS_TMP/s.json" "$JFS_MNT/bob/session.json"
	mkdir "$JFS_MNT/erin"
	printf '%s\n' '{"data":{"new":true}}' >"$JFS_MNT/erin/user.json"
	sync "$JFS_MNT/alice/user.json" "$JFS_MNT/bob/session.json" "$JFS_MNT/erin/user.json"
	# unmounting waits for every write
	umount_jfs

	if [[ "$JOVOFS_TEST_BACKEND" == filedb ]]; then
		# a JSON array of items with a string "id" each, ids unique: what
		# @jovotech/db-filedb reads with JSON.parse and users.find(u => u.id === id)
		node -e '
			const fs = require("fs");
			const users = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
			if (!Array.isArray(users)) throw new Error("not an array");
			const ids = new Set();
			for (const u of users) {
				if (typeof u !== "object" || u === null || typeof u.id !== "string")
					throw new Error("item without a string id: " + JSON.stringify(u));
				if (ids.has(u.id)) throw new Error("duplicate id " + u.id);
				ids.add(u.id);
				if (typeof u.user !== "object" || typeof u.user.data !== "object")
					throw new Error("item without user.data: " + u.id);
			}
			if (ids.size !== 4) throw new Error("expected 4 users, got " + [...ids]);
		' "$JFS_DB"
	fi
	assert_equal_str "$(backend_ids | sort | tr '\n' ' ')" "alice bob carol erin "

	local out
	out="$(jovo get alice bob carol erin)"
	local lines
	mapfile -t lines <<<"$out"
	[[ ${#lines[@]} -eq 4 ]]
	json_eq alice "${lines[0]}" '{"user":{"name":"Ada","score":0.1,"list":[1,"two",{"three":3}]},"session":{"last":"score"}}'
	json_eq bob "${lines[1]}" '{"user":{"name":"Bob"},"session":{"last":"name","step":2}}'
	json_eq carol "${lines[2]}" '{"user":{"name":"Carol"},"session":{"last":"name"}}'
	json_eq erin "${lines[3]}" '{"user":{"new":true},"session":{}}'

	# and the app goes on writing that store: another user's save keeps them all
	jovo set frank x 1 >/dev/null
	out="$(jovo get alice erin frank)"
	mapfile -t lines <<<"$out"
	json_eq "alice after frank" "$(jq -c .user <<<"${lines[0]}")" '{"name":"Ada","score":0.1,"list":[1,"two",{"three":3}]}'
	json_eq "erin after frank" "$(jq -c .user <<<"${lines[1]}")" '{"new":true}'
	json_eq frank "$(jq -c .user <<<"${lines[2]}")" '{"x":1}'
}

# --- the app and the mount agree on what is not shown ---------------------------

@test "jovo: an expired session is hidden by the mount and not loaded by the app" {
	jovo set alice name '"Ada"' >/dev/null
	# the app's session, 7 years idle (default expiresAfterSeconds: 900)
	seed_json "[$(backend_get alice | jq -c '.session.updatedAt = "2020-01-01T00:00:00.000Z"')]"
	make_config "$ALL_ON"
	mount_jfs

	[[ ! -e "$JFS_MNT/alice/session.json" ]]
	file_jq "$JFS_MNT/alice/record.json" '.session.data == {"last":"name"}'
	file_jq "$JFS_MNT/alice/user.json" '.data == {"name":"Ada"}'

	local out
	out="$(jovo get alice)"
	json_eq "app after expiry" "$out" '{"user":{"name":"Ada"},"session":{}}'
	# the app saved a new session: the mount shows it
	wait_until 10 file_jq "$JFS_MNT/alice/session.json" '.data == {} and .id == "session-alice"'
	check_user_shows alice
}

@test "jovo: elements the mount does not store stay for the app" {
	jovo set alice name '"Ada"' + set alice score 3 >/dev/null
	# this mount stores only the user element
	make_config '{"user":true}'
	mount_jfs
	[[ ! -e "$JFS_MNT/alice/session.json" ]]
	[[ ! -e "$JFS_MNT/alice/history" ]]

	echo '{"data":{"name":"Ada","score":9}}' >"$JFS_MNT/alice/user.json"
	sync "$JFS_MNT/alice/user.json"
	wait_until 5 stored_is alice '.user.data.score == 9'
	# the session and history Jovo stored are still there, untouched
	stored_is alice '.session.data == {"last":"score"} and (.history.items | length) == 2'

	local out
	out="$(jovo get alice)"
	json_eq "app after the user-only edit" "$out" '{"user":{"name":"Ada","score":9},"session":{"last":"score"}}'
	stored_is alice '(.history.items | length) == 3'
	wait_until 10 file_jq "$JFS_MNT/alice/record.json" '(.history.items | length) == 3'
}
