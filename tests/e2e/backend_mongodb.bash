# shellcheck shell=bash disable=SC2016
# MongoDb backend of the e2e suites (interface: see the head of common.bash).
#
# The server is FerretDB 1.24.2 with its SQLite handler, started once per
# bats file on a free loopback port with its own data folder under
# $BATS_FILE_TMPDIR; JOVOFS_TEST_MONGODB_URI points the suites at a running
# mongod instead. Each test gets its own database (collection jovoUsers).
# The independent client is the official Node driver, mongodb 4.17.2 — the
# one @jovotech/db-mongodb 4.6.2 runs on — storing items the way Jovo's
# saveData does: updateOne({_id: id}, {$set: item without id}, {upsert: true}).
#
# Installs (cached, so only the first run is slow):
#   tests/.cache/bin/ferretdb      built from the module source with `go`
#   tests/.cache/mongodb/node      the mongodb driver, with npm
#
# Extra helpers for mongodb.bats:
#   mongodb_server_pause / mongodb_server_resume   stop FerretDB keeping its
#                 data, start it again on the same port (FerretDB only)
#   mongodb_types ID     the stored document as canonical Extended JSON
#                        (types visible: $numberInt, $numberDouble, ...)
#   mongodb_js SCRIPT ARGS...  run node with the driver; the script sees
#                        `uri`, `dbName`, `collName`, `args` and an async
#                        `withColl(fn)`

JFS_MONGO_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
JFS_MONGO_CACHE="$JFS_MONGO_REPO/tests/.cache"
JFS_MONGO_FERRETDB="$JFS_MONGO_CACHE/bin/ferretdb"
JFS_MONGO_FERRETDB_VERSION=v1.24.2
JFS_MONGO_NODE="$JFS_MONGO_CACHE/mongodb/node"
JFS_MONGO_DRIVER_VERSION=4.17.2

# Build FerretDB into tests/.cache/bin/ferretdb unless it is there. `go
# install` builds a binary that panics at start ("Invalid
# build/version/version.txt"), so build from a copy of the module source
# with that file written.
mongodb_ensure_ferretdb() {
	if [[ -x "$JFS_MONGO_FERRETDB" ]] && "$JFS_MONGO_FERRETDB" --version >/dev/null 2>&1; then
		return 0
	fi
	command -v go >/dev/null || {
		echo "mongodb: 'go' is needed to build FerretDB $JFS_MONGO_FERRETDB_VERSION" >&2
		return 1
	}
	mkdir -p "$JFS_MONGO_CACHE/bin"
	(
		flock 9
		[[ -x "$JFS_MONGO_FERRETDB" ]] && "$JFS_MONGO_FERRETDB" --version >/dev/null 2>&1 && exit 0
		set -e
		echo "mongodb: building FerretDB $JFS_MONGO_FERRETDB_VERSION (once)" >&2
		mod="$(go mod download -json "github.com/FerretDB/FerretDB@$JFS_MONGO_FERRETDB_VERSION" |
			sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
		[[ -d "$mod" ]] || { echo "mongodb: go mod download found no source" >&2; exit 1; }
		tmp="$(mktemp -d)"
		trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
		cp -r "$mod" "$tmp/src"
		chmod -R u+w "$tmp/src"
		echo "$JFS_MONGO_FERRETDB_VERSION" >"$tmp/src/build/version/version.txt"
		cd "$tmp/src"
		go build -o "$JFS_MONGO_FERRETDB.new" ./cmd/ferretdb ||
			go build -ldflags=-checklinkname=0 -o "$JFS_MONGO_FERRETDB.new" ./cmd/ferretdb
		"$JFS_MONGO_FERRETDB.new" --version >/dev/null
		mv "$JFS_MONGO_FERRETDB.new" "$JFS_MONGO_FERRETDB"
	) 9>"$JFS_MONGO_CACHE/.ferretdb.lock"
}

mongodb_ensure_driver() {
	if [[ -f "$JFS_MONGO_NODE/node_modules/mongodb/package.json" ]]; then
		return 0
	fi
	mkdir -p "$JFS_MONGO_NODE"
	(
		flock 9
		[[ -f "$JFS_MONGO_NODE/node_modules/mongodb/package.json" ]] && exit 0
		echo "mongodb: installing the node driver mongodb@$JFS_MONGO_DRIVER_VERSION (once)" >&2
		npm install --silent --no-audit --no-fund --prefix "$JFS_MONGO_NODE" \
			"mongodb@$JFS_MONGO_DRIVER_VERSION" >&2
	) 9>"$JFS_MONGO_CACHE/.node.lock"
}

# The JS side: the item <-> document mapping as a Jovo app and jovofs see it.
JFS_MONGO_JS_PRELUDE='
const { MongoClient, Long } = require("mongodb");
const { EJSON } = require("bson");
const uri = process.env.JFS_MONGO_URI;
const dbName = process.env.JFS_MONGO_DB;
const collName = process.env.JFS_MONGO_COLL || "jovoUsers";
const args = process.argv.slice(1);
async function withColl(fn) {
	const client = new MongoClient(uri, { serverSelectionTimeoutMS: 10000 });
	await client.connect();
	try {
		return await fn(client.db(dbName).collection(collName), client);
	} finally {
		await client.close();
	}
}
function iso(d) {
	const t = d.getTime();
	return t >= 0 && t <= 253402300799999 ? { $date: d.toISOString() }
		: { $date: { $numberLong: String(t) } };
}
// What jovofs shows for a stored value (backends/mongodb_bson.c).
function plain(v) {
	if (v === null || v === undefined) return null;
	if (typeof v === "number") {
		if (Number.isFinite(v)) return v;
		return { $numberDouble: Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity" };
	}
	if (typeof v !== "object") return v;
	if (Array.isArray(v)) return v.map(plain);
	if (v instanceof Date) return iso(v);
	if (v instanceof Long) return { $numberLong: v.toString() };
	if (v._bsontype === "ObjectID" || v._bsontype === "ObjectId") return { $oid: v.toHexString() };
	if (v._bsontype) return EJSON.serialize(v, { relaxed: false });
	const o = {};
	for (const [k, x] of Object.entries(v)) o[k] = plain(x);
	return o;
}
function toItem(doc) {
	const { _id, id, ...rest } = doc;
	return { id: _id, ...plain(rest) };
}
// A JSON item (Extended JSON allowed) as the document Jovo stores.
function toDoc(item) {
	const { id, ...rest } = EJSON.deserialize(item, { relaxed: true });
	return rest;
}
'

mongodb_js() {
	local script=$1
	shift
	NODE_PATH="$JFS_MONGO_NODE/node_modules" JFS_MONGO_URI="$JFS_MONGO_URI" \
		JFS_MONGO_DB="${JFS_MONGO_DB:-jovofs}" JFS_MONGO_COLL="${JFS_MONGO_COLL:-jovoUsers}" \
		node -e "$JFS_MONGO_JS_PRELUDE
(async () => { $script })().catch(e => { console.error(String(e && e.stack || e)); process.exit(2); });" \
		"$@"
}

mongodb_free_port() {
	node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => {
		console.log(s.address().port); s.close(); });'
}

mongodb_wait_ready() {
	local deadline=$((SECONDS + 60))
	while ((SECONDS < deadline)); do
		if (exec 7<>"/dev/tcp/127.0.0.1/$JFS_MONGO_PORT") 2>/dev/null &&
			mongodb_js 'await withColl(async (c, cl) => cl.db("admin").command({ ping: 1 }));' \
				2>/dev/null; then
			return 0
		fi
		if [[ -n "${JFS_MONGO_DIR:-}" ]] && ! kill -0 "$(cat "$JFS_MONGO_DIR/pid")" 2>/dev/null; then
			echo "mongodb: FerretDB exited; its log:" >&2
			cat "$JFS_MONGO_DIR/ferretdb.log" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "mongodb: FerretDB on port $JFS_MONGO_PORT did not answer within 60s; its log:" >&2
	cat "$JFS_MONGO_DIR/ferretdb.log" >&2
	return 1
}

mongodb_spawn() {
	"$JFS_MONGO_FERRETDB" --handler=sqlite --sqlite-url="file:$JFS_MONGO_DIR/data/" \
		--state-dir="$JFS_MONGO_DIR" --listen-addr="127.0.0.1:$JFS_MONGO_PORT" \
		--debug-addr=- --telemetry=disable --log-level=warn \
		>>"$JFS_MONGO_DIR/ferretdb.log" 2>&1 </dev/null 3>&- 4>&- 5>&- &
	echo $! >"$JFS_MONGO_DIR/pid"
}

backend_server_start() {
	mongodb_ensure_driver || return 1
	if [[ -n "${JOVOFS_TEST_MONGODB_URI:-}" ]]; then
		export JFS_MONGO_URI="$JOVOFS_TEST_MONGODB_URI" JFS_MONGO_EXTERNAL=1
		return 0
	fi
	mongodb_ensure_ferretdb || return 1
	JFS_MONGO_DIR="${BATS_FILE_TMPDIR:?}/ferretdb"
	mkdir -p "$JFS_MONGO_DIR/data"
	JFS_MONGO_PORT="$(mongodb_free_port)"
	export JFS_MONGO_DIR JFS_MONGO_PORT JFS_MONGO_URI="mongodb://127.0.0.1:$JFS_MONGO_PORT/"
	mongodb_spawn
	mongodb_wait_ready
}

# The pid is read from the file: a test may have restarted the server.
mongodb_kill() {
	local pid i
	pid="$(cat "${JFS_MONGO_DIR:-/nonexistent}/pid" 2>/dev/null)" || return 0
	[[ -n "$pid" ]] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

backend_server_stop() {
	[[ -n "${JFS_MONGO_EXTERNAL:-}" ]] && return 0
	mongodb_kill
	rm -f "${JFS_MONGO_DIR:-/nonexistent}/pid"
}

mongodb_server_pause() {
	[[ -z "${JFS_MONGO_EXTERNAL:-}" ]] || skip "cannot stop an external mongod"
	mongodb_kill
}

mongodb_server_resume() {
	mongodb_spawn
	mongodb_wait_ready
}

# After a test that paused the server, whatever happened: running again.
mongodb_server_ensure_up() {
	[[ -z "${JFS_MONGO_EXTERNAL:-}" && -n "${JFS_MONGO_DIR:-}" ]] || return 0
	kill -0 "$(cat "$JFS_MONGO_DIR/pid" 2>/dev/null)" 2>/dev/null && return 0
	mongodb_server_resume
}

backend_setup() {
	# a fresh database per test: FerretDB names are [a-zA-Z0-9_-], <= 63 chars
	JFS_MONGO_DB="jfs_${BATS_TEST_NUMBER:-0}_${RANDOM}${RANDOM}"
	JFS_MONGO_COLL=jovoUsers
	export JFS_MONGO_DB JFS_MONGO_COLL
	if [[ -n "${JFS_MONGO_EXTERNAL:-}" ]]; then
		mongodb_js 'await withColl(async (c, cl) => cl.db(dbName).dropDatabase());'
	fi
}

backend_config_json() {
	jq -cn --arg u "$JFS_MONGO_URI" --arg d "$JFS_MONGO_DB" --arg c "$JFS_MONGO_COLL" \
		'{backend: "mongodb", mongodb: {connectionString: $u, databaseName: $d, collectionName: $c}}'
}

# As Jovo's saveData stores an item; an existing one is replaced first.
backend_seed() {
	mongodb_js '
		const items = JSON.parse(require("fs").readFileSync(args[0], "utf8"));
		await withColl(async (c) => {
			for (const item of items) {
				await c.deleteOne({ _id: item.id });
				await c.updateOne({ _id: item.id }, { $set: toDoc(item) }, { upsert: true });
			}
		});' "$1"
}

backend_get() {
	mongodb_js '
		const doc = await withColl((c) => c.findOne({ _id: args[0] }));
		if (!doc) process.exit(1);
		console.log(JSON.stringify(toItem(doc)));' "$1"
}

backend_ids() {
	mongodb_js '
		const docs = await withColl((c) => c.find({}, { projection: { _id: 1 } }).sort({ _id: 1 }).toArray());
		for (const d of docs) console.log(d._id);'
}

mongodb_types() {
	mongodb_js '
		const doc = await withColl((c) => c.findOne({ _id: args[0] },
			{ promoteValues: false, promoteLongs: false, promoteBuffers: false }));
		if (!doc) process.exit(1);
		console.log(EJSON.stringify(doc, { relaxed: false }));' "$1"
}
