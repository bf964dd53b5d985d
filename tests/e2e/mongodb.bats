#!/usr/bin/env bats
# shellcheck disable=SC2016 # Extended JSON: "$oid" and friends are literal
# MongoDb only (DESIGN sections 1, 2a, 5, 7): BSON types through the mount,
# Jovo's document shape, faults of the server, conflicts with the Node
# driver, the connection string's secrets. Runs against FerretDB 1.24.2,
# or a real mongod with JOVOFS_TEST_MONGODB_URI.

load common

setup_file() {
	[[ "$JOVOFS_TEST_BACKEND" == mongodb ]] || return 0
	jfs_setup_file
}

teardown_file() {
	[[ "$JOVOFS_TEST_BACKEND" == mongodb ]] || return 0
	jfs_teardown_file
}

setup() {
	require_backend mongodb
	jfs_setup
	U="$JFS_MNT/alice"
}

teardown() {
	[[ "$JOVOFS_TEST_BACKEND" == mongodb ]] || return 0
	local rc=0
	jfs_teardown || rc=1
	mongodb_server_ensure_up || rc=1
	return $rc
}

# A document as a Jovo app on the Node driver left it, with BSON types a
# JSON file cannot say. The driver's own types: Int32, Double, Long, ...
seed_typed() {
	mongodb_js '
		const { Int32, Double, Long, ObjectId, Binary, Timestamp, BSONRegExp } = require("mongodb");
		await withColl((c) => c.insertOne({
			_id: "alice",
			createdAt: "2025-06-30T05:50:04.034Z",
			updatedAt: "2026-01-02T03:04:05.678Z",
			user: { data: {
				score: new Int32(3), ratio: new Double(1), half: new Double(0.5),
				big: Long.fromString("9007199254740993"), small: Long.fromNumber(5),
				when: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678)),
				oid: new ObjectId("5f0c1a2b3c4d5e6f70819203"),
				bin: new Binary(Buffer.from("hi")),
				ts: new Timestamp({ t: 1700000000, i: 2 }),
				re: new BSONRegExp("^a+", "i"),
				name: "Ada", ok: true, none: null,
			} },
			custom: { plugin: "x", n: new Long(7), at: new Date(0) },
		}));'
}

@test "mongodb: the mount shows what Jovo stored, with \"id\" from _id" {
	seed_json "[$(full_item alice)]"
	make_config "$ALL_ON"
	mount_jfs
	[ "$(jq -r .id "$U/record.json")" = alice ]
	[ "$(jq -c .data "$U/user.json")" = '{"name":"Ada","score":3,"tags":["a","b"]}' ]
	[ "$(jq -r '.custom.n[1]' "$U/record.json")" = 2.5 ]
	[ "$(cat "$U/createdAt")" = 2025-06-30T05:50:04.034Z ]
	# Jovo stores no "id" field: _id is the id
	[ "$(mongodb_types alice | jq -r '[._id, has("id")] | @tsv')" = "$(printf 'alice\tfalse')" ]
}

@test "mongodb: types the edit did not touch come back as they were" {
	seed_typed
	make_config
	mount_jfs
	[ "$(jq -c .data.big "$U/user.json")" = '{"$numberLong":"9007199254740993"}' ]
	[ "$(jq -c .data.when "$U/user.json")" = '{"$date":"2026-01-02T03:04:05.678Z"}' ]
	[ "$(jq -c .data.oid "$U/user.json")" = '{"$oid":"5f0c1a2b3c4d5e6f70819203"}' ]
	[ "$(jq -c .data.ratio "$U/user.json")" = 1 ]
	jq '.data.score += 1 | .data.name = "Grace"' "$U/user.json" >"$JFS_TMP/u.json"
	cp "$JFS_TMP/u.json" "$U/user.json"
	umount_jfs
	t="$(mongodb_types alice)"
	echo "$t"
	d="$(jq -c .user.data <<<"$t")"
	[ "$(jq -c .score <<<"$d")" = '{"$numberInt":"4"}' ]
	[ "$(jq -c .name <<<"$d")" = '"Grace"' ]
	[ "$(jq -c .ratio <<<"$d")" = '{"$numberDouble":"1.0"}' ]
	[ "$(jq -c .half <<<"$d")" = '{"$numberDouble":"0.5"}' ]
	[ "$(jq -c .big <<<"$d")" = '{"$numberLong":"9007199254740993"}' ]
	[ "$(jq -c .small <<<"$d")" = '{"$numberLong":"5"}' ]
	[ "$(jq -c .when <<<"$d")" = '{"$date":{"$numberLong":"1767323045678"}}' ]
	[ "$(jq -c .oid <<<"$d")" = '{"$oid":"5f0c1a2b3c4d5e6f70819203"}' ]
	[ "$(jq -c .bin <<<"$d")" = '{"$binary":{"base64":"aGk=","subType":"00"}}' ]
	[ "$(jq -c .ts <<<"$d")" = '{"$timestamp":{"t":1700000000,"i":2}}' ]
	[ "$(jq -c .re <<<"$d")" = '{"$regularExpression":{"pattern":"^a+","options":"i"}}' ]
	[ "$(jq -c .none <<<"$d")" = null ]
	# keys the edit did not touch: byte for byte
	[ "$(jq -c .custom <<<"$t")" = '{"plugin":"x","n":{"$numberLong":"7"},"at":{"$date":{"$numberLong":"0"}}}' ]
	[ "$(jq -r .createdAt <<<"$t")" = 2025-06-30T05:50:04.034Z ]
	[ "$(jq -r '.updatedAt | type' <<<"$t")" = string ]
	[ "$(jq -r .updatedAt <<<"$t")" != 2026-01-02T03:04:05.678Z ]
}

@test "mongodb: a changed number keeps its stored type; new numbers as the Node driver writes them" {
	seed_typed
	make_config
	mount_jfs
	jq -c '.data.ratio = 2 | .data.small = 6 | .data.n1 = 1 | .data.n2 = 1.5 | .data.n3 = 3000000000
		| .data.l = {"$numberLong": "-9223372036854775808"}
		| .data.d = {"$date": "2000-01-01T00:00:00.000Z"}
		| .data.o = {"$oid": "000000000000000000000001"}' "$U/user.json" >"$JFS_TMP/u.json"
	cp "$JFS_TMP/u.json" "$U/user.json"
	[ "$(jq -c .data.l "$U/user.json")" = '{"$numberLong":"-9223372036854775808"}' ]
	umount_jfs
	d="$(mongodb_types alice | jq -c .user.data)"
	[ "$(jq -c .ratio <<<"$d")" = '{"$numberDouble":"2.0"}' ]
	[ "$(jq -c .small <<<"$d")" = '{"$numberLong":"6"}' ]
	[ "$(jq -c .n1 <<<"$d")" = '{"$numberInt":"1"}' ]
	[ "$(jq -c .n2 <<<"$d")" = '{"$numberDouble":"1.5"}' ]
	[ "$(jq -c .n3 <<<"$d")" = '{"$numberDouble":"3000000000.0"}' ]
	[ "$(jq -c .l <<<"$d")" = '{"$numberLong":"-9223372036854775808"}' ]
	[ "$(jq -c .d <<<"$d")" = '{"$date":{"$numberLong":"946684800000"}}' ]
	[ "$(jq -c .o <<<"$d")" = '{"$oid":"000000000000000000000001"}' ]
}

@test "mongodb: an invalid Extended JSON wrapper is EINVAL and changes nothing" {
	seed_typed
	make_config
	mount_jfs
	before="$(mongodb_types alice)"
	run probe write-close "$U/user.json" '{"data":{"o":{"$oid":"nothex"}}}'
	[ "$output" = EINVAL ]
	umount_jfs
	[ "$(mongodb_types alice)" = "$before" ]
}

@test "mongodb: the Node driver reads back a record made through the mount as Jovo would" {
	make_config "$ALL_ON"
	mount_jfs
	mkdir "$JFS_MNT/bob"
	echo '{"data":{"name":"Bob","visits":2,"avg":2.5}}' >"$JFS_MNT/bob/user.json"
	umount_jfs
	t="$(mongodb_types bob)"
	echo "$t"
	[ "$(jq -r ._id <<<"$t")" = bob ]
	[ "$(jq -r 'has("id")' <<<"$t")" = false ]
	[ "$(jq -c .user.data <<<"$t")" = '{"name":"Bob","visits":{"$numberInt":"2"},"avg":{"$numberDouble":"2.5"}}' ]
	[[ "$(jq -r .createdAt <<<"$t")" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T.*Z$ ]]
	[ "$(stored_field bob .user.data.name)" = '"Bob"' ]
}

@test "mongodb: a write the Node driver made between read and write is ESTALE" {
	seed_json "[$(full_item alice)]"
	make_config "$ALL_ON"
	mount_jfs -o cache_timeout=60
	start_held_edit() {
		rm -f "$JFS_SYNC" "$JFS_SYNC.ready"
		probe hold-edit "$1" "$2" "$JFS_SYNC" >"$JFS_TMP/held.out" 2>&1 3>&- &
		HELD_PID=$!
		for _ in $(seq 500); do [ -e "$JFS_SYNC.ready" ] && return 0; sleep 0.01; done
		return 1
	}
	start_held_edit "$U/user.json" '{"data":{"name":"FromMount"}}'
	# what Jovo's saveData does: $set of the element and a new updatedAt
	mongodb_js 'await withColl((c) => c.updateOne({ _id: "alice" },
		{ $set: { user: { data: { name: "FromApp" } }, updatedAt: new Date().toISOString() } }));'
	touch "$JFS_SYNC"
	wait "$HELD_PID"
	[ "$(cat "$JFS_TMP/held.out")" = ESTALE ]
	grep -rl FromMount "$JFS_MNT/.jovofs/conflicts/" >/dev/null
	umount_jfs
	[ "$(stored_field alice .user.data.name)" = '"FromApp"' ]
}

@test "mongodb: the server stops during use: EIO, the daemon lives, and recovers" {
	[[ -z "${JFS_MONGO_EXTERNAL:-}" ]] || skip "cannot stop an external mongod"
	seed_json "[$(full_item alice) , $(item bob)]"
	make_config "$ALL_ON"
	mount_jfs -o cache_timeout=0,retry_timeout=1500,request_timeout=500
	[ "$(jq -r .data.name "$U/user.json")" = Ada ]
	mongodb_server_pause
	t0=$SECONDS
	run probe write-close "$U/user.json" '{"data":{"name":"WhileDown"}}'
	[ "$output" = EIO ]
	run probe read "$JFS_MNT/bob/user.json"
	[[ "$output" == *EIO* || "$output" == *'"data"'* ]] # a cached copy may answer
	((SECONDS - t0 < 30))
	jfs_daemon_alive
	grep -qi 'mongodb' "$JFS_LOG"
	mongodb_server_resume
	for _ in $(seq 100); do
		run probe write-close "$U/user.json" '{"data":{"name":"AfterRestart"}}'
		[ "$output" = OK ] && break
		sleep 0.2
	done
	[ "$output" = OK ]
	[ "$(jq -r .data.name "$U/user.json")" = AfterRestart ]
	umount_jfs
	[ "$(stored_field alice .user.data.name)" = '"AfterRestart"' ]
}

@test "mongodb: an unreachable server at mount time: the mount serves EIO, then recovers" {
	[[ -z "${JFS_MONGO_EXTERNAL:-}" ]] || skip "cannot stop an external mongod"
	seed_json "[$(item alice)]"
	make_config
	mongodb_server_pause
	mount_jfs -o cache_timeout=0,retry_timeout=1000,request_timeout=500
	run probe read "$U/user.json"
	[[ "$output" == *EIO* ]]
	jfs_daemon_alive
	mongodb_server_resume
	for _ in $(seq 100); do
		[ "$(ls "$JFS_MNT" 2>/dev/null)" = alice ] && break
		sleep 0.2
	done
	[ "$(ls "$JFS_MNT")" = alice ]
}

@test "mongodb: the connection string's password is in no log and not in .jovofs/config" {
	port="$(mongodb_free_port)" # nothing listens there
	jq -n --arg u "mongodb://ann:s3cr3tPW@127.0.0.1:$port/app?authSource=admin" \
		'{backend: "mongodb", mongodb: {connectionString: $u}}' >"$JFS_CONFIG"
	mount_jfs -o retry_timeout=500,request_timeout=300
	run ls "$JFS_MNT" # fails inside: the log gets the driver's message
	grep -q 'mongodb' "$JFS_LOG"
	cat "$JFS_MNT/.jovofs/config"
	grep -q 'ann:\*\*\*@127.0.0.1' "$JFS_MNT/.jovofs/config"
	not grep -q s3cr3tPW "$JFS_MNT/.jovofs/config"
	umount_jfs
	not grep -q s3cr3tPW "$JFS_LOG"
}

@test "mongodb: a password holding '?' or '@', and libmongoc's own messages, are in no log and not in .jovofs" {
	port="$(mongodb_free_port)" # nothing listens there
	jq -n --arg u "mongodb://jovofs:Pa55?w0rd@127.0.0.1:$port/app" \
		'{backend: "mongodb", mongodb: {connectionString: $u}}' >"$JFS_CONFIG"
	mount_jfs -o retry_timeout=300,request_timeout=300
	run ls "$JFS_MNT"
	cat "$JFS_MNT/.jovofs/config"
	grep -q 'jovofs:\*\*\*@127.0.0.1' "$JFS_MNT/.jovofs/config"
	for f in config errors; do not grep -q 'w0rd' "$JFS_MNT/.jovofs/$f"; done
	umount_jfs
	not grep -q 'w0rd' "$JFS_LOG"
	# a string libmongoc refuses, with a key password under two names: neither is shown
	jq -n --arg u "mongodb://u:p@127.0.0.1:$port/?tls=true&sslclientcertificatekeypassword=OLDSECRET&tlsCertificateKeyFilePassword=NEWSECRET" \
		'{backend: "mongodb", mongodb: {connectionString: $u}}' >"$JFS_CONFIG"
	run timeout 20 "$JOVOFS_BIN" -f -o "config=$JFS_CONFIG" "$JFS_MNT"
	echo "$output"
	[ "$status" -ne 0 ] && [ "$status" -ne 124 ]
	[[ "$output" != *OLDSECRET* && "$output" != *NEWSECRET* ]]
	[[ "$output" == *mongodb* ]]
}

@test "mongodb: the connection string may come from JOVOFS_MONGODB_URI; databaseName defaults to the URI's" {
	seed_json "[$(item alice '{"from":"env"}')]"
	jq -n '{backend: "mongodb", mongodb: {}}' >"$JFS_CONFIG"
	JOVOFS_MONGODB_URI="${JFS_MONGO_URI%/}/$JFS_MONGO_DB" mount_jfs
	[ "$(jq -r .data.from "$U/user.json")" = env ]
	grep -q "$JFS_MONGO_DB" "$JFS_MNT/.jovofs/config"
}

@test "mongodb: a large collection lists completely, in pages" {
	mongodb_js '
		const docs = [];
		for (let i = 0; i < 2500; i++)
			docs.push({ _id: "u" + String(i).padStart(5, "0"), user: { data: { i } },
				createdAt: "2025-06-30T05:50:04.034Z", updatedAt: "2026-01-02T03:04:05.678Z" });
		await withColl((c) => c.insertMany(docs));'
	make_config
	mount_jfs
	[ "$(find "$JFS_MNT" -mindepth 1 -maxdepth 1 -name 'u*' | wc -l)" -eq 2500 ]
	[ "$(jq -r .data.i "$JFS_MNT/u02499/user.json")" = 2499 ]
}

@test "mongodb: a find view is one query returning _ids only; a comparison across types brings its value" {
	seed_json "[$(item alice '{"city":"Paris","score":900}'),$(item bob '{"city":"Wien","score":"950"}'),$(item carl '{"city":"Paris","score":10}')]"
	mount_jfs -d
	[ "$(ls "$JFS_MNT/.jovofs/find/user.data.city=Paris" | tr '\n' ' ')" = "alice carl " ]
	grep 'mongodb: find .*"user.data.city" : { "$eq" : "Paris"' "$JFS_LOG" |
		grep -q '{ "projection" : { "_id" : 1 }, "batchSize"'
	[ "$(ls "$JFS_MNT/.jovofs/find/user.data.score>=500" | tr '\n' ' ')" = "alice bob " ]
	grep 'mongodb: find .*"$gte" : 500' "$JFS_LOG" |
		grep -q '"projection" : { "_id" : 1, "user.data.score" : 1 }'
}

@test "mongodb: listTimes: a small collection's listing brings the times (auto), false the _id alone" {
	seed_json "[$(item alice), $(item bob)]"
	mount_jfs -d
	ls "$JFS_MNT" >/dev/null
	# auto at this size: the times come with the ids, and .jovofs/config says why
	grep 'mongodb: find { } ' "$JFS_LOG" |
		grep -q '"projection" : { "_id" : 1, "createdAt" : 1, "updatedAt" : 1 }'
	# (the count is taken as the listing's last page has gone to ls)
	eventually jq -e '.mongodb.listTimes | startswith("auto (the times: about 2 users")' \
		"$JFS_MNT/.jovofs/config"
	[ "$(stat -c %Y "$JFS_MNT/alice")" = "$(date -d 2026-01-02T03:04:05.678Z +%s)" ]
	umount_jfs
	jq '.mongodb.listTimes = false' "$JFS_CONFIG" >"$JFS_CONFIG.new"
	mv "$JFS_CONFIG.new" "$JFS_CONFIG"
	: >"$JFS_LOG"
	mount_jfs -d
	[ "$(ls "$JFS_MNT" | tr '\n' ' ')" = "alice bob " ]
	grep 'mongodb: find { } ' "$JFS_LOG" | grep -q '"projection" : { "_id" : 1 }, "batchSize"'
	[ "$(jq .mongodb.listTimes "$JFS_MNT/.jovofs/config")" = false ]
	# the times then come from the record
	[ "$(stat -c %Y "$JFS_MNT/alice")" = "$(date -d 2026-01-02T03:04:05.678Z +%s)" ]
	umount_jfs
	jq '.mongodb.listTimes = "sometimes"' "$JFS_CONFIG" >"$JFS_CONFIG.new"
	mv "$JFS_CONFIG.new" "$JFS_CONFIG"
	run "$JOVOFS_BIN" --check -o "config=$JFS_CONFIG"
	[ "$status" -ne 0 ]
	[[ "$output" == *"'mongodb.listTimes' must be true, false or \"auto\""* ]]
}

@test "mongodb: Decimal128, NaN, -0 and nested arrays round-trip (real mongod only)" {
	[[ -n "${JFS_MONGO_EXTERNAL:-}" ]] || skip "FerretDB 1.24 stores no Decimal128, NaN, -0.0 or nested arrays"
	mongodb_js '
		const { Decimal128, Double } = require("mongodb");
		await withColl((c) => c.insertOne({ _id: "alice", createdAt: "2025-06-30T05:50:04.034Z",
			updatedAt: "2026-01-02T03:04:05.678Z",
			user: { data: { dec: Decimal128.fromString("1.10"), nan: NaN, nz: new Double(-0),
				m: [[1, [2.5]], []], keep: 1 } } }));'
	make_config
	mount_jfs
	[ "$(jq -c .data.dec "$U/user.json")" = '{"$numberDecimal":"1.10"}' ]
	[ "$(jq -c .data.nan "$U/user.json")" = '{"$numberDouble":"NaN"}' ]
	jq '.data.keep = 2' "$U/user.json" >"$JFS_TMP/u.json"
	cp "$JFS_TMP/u.json" "$U/user.json"
	umount_jfs
	d="$(mongodb_types alice | jq -c .user.data)"
	[ "$(jq -c .dec <<<"$d")" = '{"$numberDecimal":"1.10"}' ]
	[ "$(jq -c .nan <<<"$d")" = '{"$numberDouble":"NaN"}' ]
	[ "$(jq -c .nz <<<"$d")" = '{"$numberDouble":"-0.0"}' ]
	[ "$(jq -c .m <<<"$d")" = '[[{"$numberInt":"1"},[{"$numberDouble":"2.5"}]],[]]' ]
	[ "$(jq -c .keep <<<"$d")" = '{"$numberInt":"2"}' ]
}
