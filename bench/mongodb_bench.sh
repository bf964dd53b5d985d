#!/usr/bin/env bash
# shellcheck disable=SC2016 # JavaScript in single quotes
# MongoDb benchmark: a collection of N Jovo users (default 100,000) on
# FerretDB 1.24.2 (SQLite handler, loopback), listed and looked up through a
# jovofs mount, next to the official Node driver doing the same work.
#
#   bench/mongodb_bench.sh [-n USERS] [-l LOOKUPS] [-b JOVOFS_BIN]
#
# JOVOFS_TEST_MONGODB_URI runs it against a real mongod instead (a database
# jovofs_bench is created there and dropped at the end).
#
# Prints one line per figure: what, seconds through the mount, seconds with
# the Node driver, and the ratio (driver / mount: above 1 means the mount is
# faster). The driver's figures are measured inside one node process (node's
# start-up and connect are not counted); the mount's include everything.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
users=100000
lookups=500
bin="${JOVOFS_BIN:-$repo/build/jovofs}"
while getopts 'n:l:b:' o; do
	case $o in
	n) users=$OPTARG ;;
	l) lookups=$OPTARG ;;
	b) bin=$OPTARG ;;
	*) echo "usage: $0 [-n USERS] [-l LOOKUPS] [-b JOVOFS_BIN]" >&2; exit 2 ;;
	esac
done
((lookups <= users)) || lookups=$users
[[ -x $bin ]] || { echo "jovofs binary '$bin' not found (build it or pass -b)" >&2; exit 1; }

work="$(mktemp -d /tmp/jfs-mongo-bench.XXXXXX)"
jfs_pid=
# the e2e backend does the installing and the server's start and stop
export BATS_FILE_TMPDIR="$work"
# shellcheck source=/dev/null
source "$repo/tests/e2e/backend_mongodb.bash"
export JFS_MONGO_DB=jovofs_bench JFS_MONGO_COLL=jovoUsers

cleanup() {
	if mountpoint -q "$work/mnt" 2>/dev/null; then fusermount3 -u "$work/mnt" || true; fi
	if [[ -n $jfs_pid ]]; then wait "$jfs_pid" 2>/dev/null || true; fi
	if [[ -n "${JFS_MONGO_EXTERNAL:-}" ]]; then
		mongodb_js 'await withColl(async (c, cl) => cl.db(dbName).dropDatabase());' || true
	fi
	backend_server_stop || true
	rm -rf "$work"
}
trap cleanup EXIT

backend_server_start
if [[ -n "${JFS_MONGO_EXTERNAL:-}" ]]; then
	mongodb_js 'await withColl(async (c, cl) => cl.db(dbName).dropDatabase());'
fi

# Seed: what Jovo's saveData stores, {_id, createdAt, session, updatedAt,
# user}, 1000 a batch, 4 batches in flight.
id_of() { printf 'amzn1.ask.account.%08d' "$1"; }
t0=$(date +%s.%N)
mongodb_js '
	const n = Number(args[0]);
	const doc = (i) => ({
		_id: "amzn1.ask.account." + String(i).padStart(8, "0"),
		createdAt: "2025-06-30T05:50:04.034Z",
		session: { id: "s-" + i, data: {}, state: [], createdAt: "2026-01-01T00:00:00.000Z",
			updatedAt: "2026-01-01T00:00:00.000Z" },
		updatedAt: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
		user: { data: { name: "user " + i, score: i % 1000, ratio: i / 7 } },
	});
	await withColl(async (c) => {
		let next = 0;
		async function worker() {
			while (next < n) {
				const start = next;
				next += 1000;
				const docs = [];
				for (let i = start; i < Math.min(start + 1000, n); i++) docs.push(doc(i));
				await c.insertMany(docs, { ordered: false });
			}
		}
		await Promise.all([worker(), worker(), worker(), worker()]);
	});' "$users"
t1=$(date +%s.%N)
printf '# seeded %d users in %.1f s (%s)\n' "$users" "$(echo "$t1 - $t0" | bc)" "$JFS_MONGO_URI"

mkdir -p "$work/mnt"
backend_config_json | jq '. + {storedElements: {user: true, session: true}}' >"$work/config.json"
# the daemon lists the users while it mounts: a cold listing is mount + ls
mount_jfs() {
	"$bin" -f -o "config=$work/config.json" -o cache_timeout=600 "$work/mnt" \
		>>"$work/jovofs.log" 2>&1 &
	jfs_pid=$!
	local i
	for ((i = 0; i < 36000; i++)); do mountpoint -q "$work/mnt" && return 0; sleep 0.01; done
	cat "$work/jovofs.log" >&2
	return 1
}

# secs VAR CMD...: wall seconds of CMD into VAR (no subshell: CMD may start the daemon)
secs() {
	local var=$1 a b
	shift
	a=$(date +%s.%N)
	"$@" >/dev/null
	b=$(date +%s.%N)
	printf -v "$var" '%s' "$(echo "$b - $a" | bc)"
}
row() {
	printf '%-44s mount %8.3f s   node driver %8.3f s   driver/mount %6.2fx\n' "$1" "$2" "$3" \
		"$(echo "$3 / $2" | bc -l)"
}

# The driver's side, timed in-process: prints seconds.
driver_list() {
	mongodb_js '
		await withColl(async (c) => {
			const t = process.hrtime.bigint();
			let n = 0;
			const cur = c.find({}, { projection: { _id: 1, createdAt: 1, updatedAt: 1 },
				sort: { _id: 1 }, batchSize: 1000 });
			for await (const d of cur) n++;
			if (n !== Number(args[0])) throw new Error("listed " + n);
			console.log(Number(process.hrtime.bigint() - t) / 1e9);
		});' "$users"
}
driver_lookups() {
	mongodb_js '
		const ids = require("fs").readFileSync(args[0], "utf8").split("\n").filter(Boolean);
		await withColl(async (c) => {
			const t = process.hrtime.bigint();
			for (const id of ids) {
				const d = await c.findOne({ _id: id }, { projection: { user: 1 } });
				JSON.stringify(d.user, null, 2);
			}
			console.log(Number(process.hrtime.bigint() - t) / 1e9);
		});' "$1"
}

count_ls() {
	local n
	# shellcheck disable=SC2010 # ls -f: one getdents walk, no stat
	n="$(ls -f "$work/mnt" | grep -vc '^\.')"
	[[ "$n" == "$users" ]] || { echo "the mount listed $n users, not $users" >&2; return 1; }
}
mount_count() { mount_jfs && count_ls; }
list_cold='' list_warm='' lsl='' look_cold='' look_warm=''
secs list_cold mount_count
secs list_warm count_ls
list_node=$(driver_list)
row "mount + list all $users users (cold)" "$list_cold" "$list_node"
row "list all $users users (warm)" "$list_warm" "$list_node"
secs lsl ls -l "$work/mnt"
row "ls -l (times from the listing)" "$lsl" "$list_node"

shuf -i 0-$((users - 1)) -n "$lookups" --random-source=<(yes) |
	while read -r i; do id_of "$i"; echo; done >"$work/ids"
mapfile -t ids <"$work/ids"
cat_all() { local id; for id in "${ids[@]}"; do cat "$work/mnt/$id/user.json"; done; }
secs look_cold cat_all
secs look_warm cat_all
look_node=$(driver_lookups "$work/ids")
row "cat user.json of $lookups users (cold)" "$look_cold" "$look_node"
row "cat user.json of $lookups users (warm)" "$look_warm" "$look_node"

fusermount3 -u "$work/mnt"
wait "$jfs_pid" || true
jfs_pid=
if grep -Eq 'error|warning' "$work/jovofs.log"; then
	echo "# daemon log:" >&2
	grep -E 'error|warning' "$work/jovofs.log" | head -20 >&2
fi
