# shellcheck shell=bash
# DynamoDb backend of the e2e suites (interface: see the head of common.bash).
#
# The server is dynalite (npm, DynamoDB's API on LevelDB), installed once
# into tests/.cache/node and started per .bats file on a free loopback port
# with its own data folder. Every test gets a fresh table, made with
# Debian's awscli (/usr/bin/aws: another aws may come first on PATH), the
# independent client that also seeds and reads back items. Items are
# stored the way @jovotech/db-dynamodb stores them: marshall()ed, the user
# id in the key column (userId), no "id" attribute.
#
# Environment
#   JOVOFS_TEST_DYNAMODB_ENDPOINT  use this DynamoDB(-like) endpoint instead of
#                                  starting dynalite (tables are still made
#                                  and dropped per test)
#   JFS_DDB_ENDPOINT, JFS_DDB_PORT, JFS_DDB_TABLE, JFS_DDB_PK
#                                  exported for the tests

: "${JFS_DDB_PK:=userId}"
JFS_DDB_AWS=/usr/bin/aws
JFS_DDB_NODE_DIR="${JFS_REPO:?}/tests/.cache/node"
JFS_DDB_DYNALITE_VERSION=4.0.0

# awscli against the test endpoint, with throwaway credentials and no
# configuration of the machine's user.
ddb_aws() {
	AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN="" \
		AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 AWS_PAGER="" \
		AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
		AWS_EC2_METADATA_DISABLED=true \
		"$JFS_DDB_AWS" --endpoint-url "$JFS_DDB_ENDPOINT" --output json "$@"
}

# One DynamoDB API call with curl (SigV4-signed by curl itself): the shared
# suites' setup, seeding and read-back go through this, a few ms a call.
# awscli (ddb_aws, 1.5 s a start) stays the independent client of
# dynamodb.bats. Usage: ddb_api OPERATION JSON
ddb_api() {
	curl -sS --fail-with-body -X POST "$JFS_DDB_ENDPOINT/" \
		--aws-sigv4 "aws:amz:us-east-1:dynamodb" --user "test:test" \
		-H "Content-Type: application/x-amz-json-1.0" \
		-H "X-Amz-Target: DynamoDB_20120810.$1" --data-binary "$2"
}

ddb_install_dynalite() {
	local cli="$JFS_DDB_NODE_DIR/node_modules/dynalite/cli.js"
	[[ -f "$cli" ]] && return 0
	mkdir -p "$JFS_DDB_NODE_DIR"
	(
		flock 9
		[[ -f "$cli" ]] && exit 0
		npm install --prefix "$JFS_DDB_NODE_DIR" --no-audit --no-fund --loglevel=error \
			"dynalite@$JFS_DDB_DYNALITE_VERSION" >&2
	) 9>"$JFS_DDB_NODE_DIR/.install.lock"
}

ddb_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Start dynalite on PORT with data in DIR (used again to restart it on the
# same port and data); sets JFS_DDB_PID.
ddb_dynalite_start() {
	local port=$1 dir=$2 log=$3 _
	mkdir -p "$dir"
	node "$JFS_DDB_NODE_DIR/node_modules/dynalite/cli.js" --host 127.0.0.1 --port "$port" \
		--path "$dir" --createTableMs 50 --deleteTableMs 50 >>"$log" 2>&1 </dev/null 3>&- &
	JFS_DDB_PID=$!
	export JFS_DDB_PID
	# a restart inside a test (a subshell) must still be stopped by teardown_file
	echo "$JFS_DDB_PID" >"$dir.pid"
	for _ in $(seq 200); do
		if ddb_answers; then
			return 0
		fi
		if ! kill -0 "$JFS_DDB_PID" 2>/dev/null; then
			echo "dynalite exited; its log:" >&2
			cat "$log" >&2
			return 1
		fi
		sleep 0.05
	done
	echo "dynalite did not answer at $JFS_DDB_ENDPOINT; its log:" >&2
	cat "$log" >&2
	return 1
}

# Whether the endpoint answers the DynamoDB API (cheap: curl, not awscli).
ddb_answers() {
	curl -s -o /dev/null -m 2 -X POST \
		-H 'Content-Type: application/x-amz-json-1.0' \
		-H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
		--aws-sigv4 'aws:amz:us-east-1:dynamodb' --user test:test \
		-d '{}' "$JFS_DDB_ENDPOINT/" 2>/dev/null
}

ddb_dynalite_stop() {
	if [[ -n "${JFS_DDB_DATA:-}" && -s "$JFS_DDB_DATA.pid" ]]; then
		JFS_DDB_PID="$(cat "$JFS_DDB_DATA.pid")"
		rm -f "$JFS_DDB_DATA.pid"
	fi
	if [[ -n "${JFS_DDB_PID:-}" ]]; then
		kill "$JFS_DDB_PID" 2>/dev/null || true
		for _ in $(seq 100); do
			kill -0 "$JFS_DDB_PID" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "$JFS_DDB_PID" 2>/dev/null || true
		wait "$JFS_DDB_PID" 2>/dev/null || true
		JFS_DDB_PID=
	fi
}

backend_server_start() {
	# the daemon under test reads its credentials from the environment
	export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
	export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
	# never ask 169.254.169.254 from a test: the chain ends there
	export AWS_EC2_METADATA_DISABLED=true
	unset AWS_SESSION_TOKEN AWS_PROFILE
	if [[ -n "${JOVOFS_TEST_DYNAMODB_ENDPOINT:-}" ]]; then
		export JFS_DDB_ENDPOINT="$JOVOFS_TEST_DYNAMODB_ENDPOINT"
		return 0
	fi
	if [[ -n "${JFS_DDB_PID:-}" ]] && kill -0 "$JFS_DDB_PID" 2>/dev/null; then
		return 0
	fi
	ddb_install_dynalite
	JFS_DDB_PORT="$(ddb_free_port)"
	JFS_DDB_DATA="${BATS_FILE_TMPDIR:-$(mktemp -d)}/dynalite"
	JFS_DDB_LOG="${BATS_FILE_TMPDIR:-$JFS_DDB_DATA}/dynalite.log"
	export JFS_DDB_PORT JFS_DDB_DATA JFS_DDB_LOG
	export JFS_DDB_ENDPOINT="http://127.0.0.1:$JFS_DDB_PORT"
	ddb_dynalite_start "$JFS_DDB_PORT" "$JFS_DDB_DATA" "$JFS_DDB_LOG"
}

backend_server_stop() {
	ddb_dynalite_stop
	if [[ -n "${JFS_DDB_DATA:-}" ]]; then
		rm -rf "$JFS_DDB_DATA"
	fi
}

# Make table $1 keyed by $JFS_DDB_PK and wait until it is ACTIVE.
ddb_create_table() {
	local i
	ddb_api CreateTable "$(jq -cn --arg t "$1" --arg pk "$JFS_DDB_PK" '{
		TableName: $t, BillingMode: "PAY_PER_REQUEST",
		AttributeDefinitions: [{AttributeName: $pk, AttributeType: "S"}],
		KeySchema: [{AttributeName: $pk, KeyType: "HASH"}]}')" >/dev/null || return 1
	for i in $(seq 200); do
		[[ "$(ddb_api DescribeTable "{\"TableName\":\"$1\"}" | jq -r .Table.TableStatus)" = ACTIVE ]] &&
			return 0
		sleep 0.05
	done
	echo "table $1 did not become ACTIVE" >&2
	return 1
}

backend_setup() {
	JFS_DDB_TABLE="jfs_${BATS_TEST_NUMBER:-0}_${RANDOM}_$$"
	export JFS_DDB_TABLE
	ddb_create_table "$JFS_DDB_TABLE"
}

backend_config_json() {
	jq -cn --arg t "$JFS_DDB_TABLE" --arg pk "$JFS_DDB_PK" --arg e "$JFS_DDB_ENDPOINT" '{
		backend: "dynamodb",
		dynamodb: {
			table: {name: $t, primaryKeyColumn: $pk},
			libraryConfig: {dynamoDbClient: {region: "us-east-1", endpoint: $e}}
		}}'
}

# Plain items (JSON array in $1) -> batch-write-item request files of 25,
# marshalled as @aws-sdk/util-dynamodb marshall() does for JSON values.
# Prints the file names.
# shellcheck disable=SC2016 # JavaScript, not shell
ddb_marshal_batches() {
	node -e '
		const fs = require("fs");
		const [seed, table, pk, dir] = process.argv.slice(1);
		const m = v => {
			if (v === null) return {NULL: true};
			if (typeof v === "boolean") return {BOOL: v};
			if (typeof v === "number") return {N: String(v)};
			if (typeof v === "string") return {S: v};
			if (Array.isArray(v)) return {L: v.map(m)};
			const o = {};
			for (const [k, x] of Object.entries(v)) if (x !== undefined) o[k] = m(x);
			return {M: o};
		};
		const items = JSON.parse(fs.readFileSync(seed, "utf8"));
		for (let i = 0; i < items.length; i += 25) {
			const reqs = items.slice(i, i + 25).map(it => {
				const {id, ...rest} = it;
				// Jovo: marshall({[primaryKeyColumn]: userId, ...dbItem})
				const attrs = m({[pk]: id, ...rest}).M;
				return {PutRequest: {Item: attrs}};
			});
			const f = `${dir}/batch-${i / 25}.json`;
			fs.writeFileSync(f, JSON.stringify({[table]: reqs}));
			console.log(f);
		}' "$1" "$JFS_DDB_TABLE" "$JFS_DDB_PK" "$2"
}

backend_seed() {
	local dir f out
	dir="$(mktemp -d "${BATS_TEST_TMPDIR:-/tmp}/ddbseed.XXXXXX")"
	for f in $(ddb_marshal_batches "$1" "$dir"); do
		out="$(ddb_api BatchWriteItem "{\"RequestItems\":$(cat "$f")}")" || return 1
		if [[ "$(jq '.UnprocessedItems | length' <<<"$out")" != 0 ]]; then
			echo "batch-write-item left items unprocessed: $out" >&2
			return 1
		fi
	done
	rm -rf "$dir"
}

# Typed item (GetItem's JSON answer on stdin) -> plain JSON as Jovo's
# unmarshall() sees it, the key column as "id" first.
ddb_unmarshal() {
	node -e '
		const pk = process.argv[1];
		let s = "";
		process.stdin.on("data", d => s += d).on("end", () => {
			if (!s.trim()) process.exit(1);
			const item = JSON.parse(s).Item;
			if (!item) process.exit(1);
			const u = a => {
				const [t, v] = Object.entries(a)[0];
				switch (t) {
				case "S": case "B": return v;
				case "N": return Number(v);
				case "BOOL": return v;
				case "NULL": return null;
				case "L": return v.map(u);
				case "M": { const o = {}; for (const [k, x] of Object.entries(v)) o[k] = u(x); return o; }
				case "SS": case "BS": return v;
				case "NS": return v.map(Number);
				}
				throw new Error("unknown type " + t);
			};
			const out = {id: u(item[pk])};
			for (const [k, x] of Object.entries(item)) if (k !== pk) out[k] = u(x);
			console.log(JSON.stringify(out));
		});' "$JFS_DDB_PK"
}

# The stored typed item of id $1, as awscli prints it ({"Item": ...}).
ddb_get_raw() {
	local out
	out="$(ddb_api GetItem "$(jq -cn --arg t "$JFS_DDB_TABLE" --arg pk "$JFS_DDB_PK" \
		--arg id "$1" '{TableName: $t, ConsistentRead: true, Key: {($pk): {S: $id}}}')")" ||
		return 1
	# like awscli: nothing at all when there is no such item
	[[ "$(jq -r 'has("Item")' <<<"$out")" = true ]] && printf '%s\n' "$out"
	return 0
}

backend_get() {
	local raw
	raw="$(ddb_get_raw "$1")" || return 1
	ddb_unmarshal <<<"$raw"
}

backend_ids() {
	local req out start=null
	while :; do
		req="$(jq -cn --arg t "$JFS_DDB_TABLE" --arg pk "$JFS_DDB_PK" --argjson s "$start" '{
			TableName: $t, ConsistentRead: true, ProjectionExpression: "#k",
			ExpressionAttributeNames: {"#k": $pk}} + (if $s then {ExclusiveStartKey: $s} else {} end)')"
		out="$(ddb_api Scan "$req")" || return 1
		jq -r --arg pk "$JFS_DDB_PK" '.Items[][$pk].S' <<<"$out"
		start="$(jq -c '.LastEvaluatedKey // null' <<<"$out")"
		[[ "$start" = null ]] && return 0
	done
}
