#!/usr/bin/env bash
# Runs the backend contract test against every backend whose server is here:
#   backend_contract.sh TEST_BINARY        (meson test backend-contract)
#
# memstore and FileDb always run. DynamoDb runs against dynalite and MongoDb
# against FerretDB when they are installed under tests/.cache (by
# tests/servers/*/install.sh, which tests/run.sh runs first): each is
# started on a free loopback port with its data in a temp folder, named to
# the binary by JOVOFS_TEST_DYNAMODB_ENDPOINT / JOVOFS_TEST_MONGODB_URI, and
# stopped afterwards (only the pids started here, also on failure). When
# one of those variables is set already, that server is used instead. A
# server that is not installed skips its backend with a note; one that is
# installed but does not start fails the test.
set -euo pipefail

test_bin="${1:?usage: backend_contract.sh TEST_BINARY}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
JFS_REPO="$(cd "$here/../.." && pwd)"
export JFS_REPO
# How the e2e suites find, start and stop the servers: the same here.
# shellcheck source=/dev/null
source "$here/../e2e/backend_dynamodb.bash"
# shellcheck source=/dev/null
source "$here/../e2e/backend_mongodb.bash"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/jfs-contract.XXXXXX")"
ddb_started=
mongo_started=
test_pid=

# shellcheck disable=SC2317 # run by the trap
cleanup() {
	if [[ -n "$test_pid" ]]; then
		kill "$test_pid" 2>/dev/null || true
		wait "$test_pid" 2>/dev/null || true
	fi
	if [[ -n "$ddb_started" ]]; then
		ddb_dynalite_stop
	fi
	if [[ -n "$mongo_started" ]]; then
		mongodb_kill
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Start FerretDB (not waiting for it) when it is installed and no server is named.
ferretdb_spawn() {
	if [[ -n "${JOVOFS_TEST_MONGODB_URI:-}" ]]; then
		echo "mongodb: $JOVOFS_TEST_MONGODB_URI (JOVOFS_TEST_MONGODB_URI)"
		return 0
	fi
	if [[ ! -x "$JFS_MONGO_FERRETDB" ]]; then
		echo "note: FerretDB is not installed ($JFS_MONGO_FERRETDB, built by" \
			"tests/servers/mongodb/install.sh): the mongodb cases are skipped"
		return 0
	fi
	JFS_MONGO_DIR="$tmp/ferretdb"
	JFS_MONGO_PORT="$(ddb_free_port)"
	mkdir -p "$JFS_MONGO_DIR/data"
	mongo_started=1
	mongodb_spawn
}

# Wait until the FerretDB started here accepts connections (what the binary needs).
ferretdb_wait() {
	local i pid
	[[ -n "$mongo_started" ]] || return 0
	pid="$(cat "$JFS_MONGO_DIR/pid")"
	for ((i = 0; i < 300; i++)); do
		if (exec 7<>"/dev/tcp/127.0.0.1/$JFS_MONGO_PORT") 2>/dev/null; then
			export JOVOFS_TEST_MONGODB_URI="mongodb://127.0.0.1:$JFS_MONGO_PORT/"
			echo "mongodb: FerretDB at $JOVOFS_TEST_MONGODB_URI"
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	echo "FerretDB did not start on port $JFS_MONGO_PORT; its log:" >&2
	cat "$JFS_MONGO_DIR/ferretdb.log" >&2
	return 1
}

# Start dynalite and wait for it when it is installed and no server is named.
dynalite_start() {
	if [[ -n "${JOVOFS_TEST_DYNAMODB_ENDPOINT:-}" ]]; then
		echo "dynamodb: $JOVOFS_TEST_DYNAMODB_ENDPOINT (JOVOFS_TEST_DYNAMODB_ENDPOINT)"
		return 0
	fi
	if ! command -v node >/dev/null ||
		[[ ! -f "$JFS_DDB_NODE_DIR/node_modules/dynalite/cli.js" ]]; then
		echo "note: dynalite is not installed ($JFS_DDB_NODE_DIR, by" \
			"tests/servers/dynamodb/install.sh): the dynamodb cases are skipped"
		return 0
	fi
	JFS_DDB_PORT="$(ddb_free_port)"
	JFS_DDB_ENDPOINT="http://127.0.0.1:$JFS_DDB_PORT"
	JFS_DDB_DATA="$tmp/dynalite"
	ddb_started=1
	ddb_dynalite_start "$JFS_DDB_PORT" "$JFS_DDB_DATA" "$tmp/dynalite.log"
	export JOVOFS_TEST_DYNAMODB_ENDPOINT="$JFS_DDB_ENDPOINT"
	# throwaway credentials, none of the machine's AWS configuration
	export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
	export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
	unset AWS_SESSION_TOKEN AWS_PROFILE
	echo "dynamodb: dynalite at $JOVOFS_TEST_DYNAMODB_ENDPOINT"
}

ferretdb_spawn
dynalite_start
ferretdb_wait

# in the background, so that a signal stops the run (and the servers) at once
status=0
"$test_bin" &
test_pid=$!
wait "$test_pid" || status=$?
test_pid=
if ((status != 0)); then
	if [[ -n "$ddb_started" ]]; then
		echo "--- dynalite's log (end)" >&2
		tail -n 40 "$tmp/dynalite.log" >&2 || true
	fi
	if [[ -n "$mongo_started" ]]; then
		echo "--- FerretDB's log (end)" >&2
		tail -n 40 "$JFS_MONGO_DIR/ferretdb.log" >&2 || true
	fi
fi
exit "$status"
