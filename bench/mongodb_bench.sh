#!/usr/bin/env bash
# shellcheck disable=SC2016 # JavaScript in single quotes
# MongoDb benchmark: a collection of N Jovo users (default 100,000;
# 1,000,000 for bench/RESULTS.md) on FerretDB 1.24.2 with its PostgreSQL
# handler over Debian's PostgreSQL (loopback, a cluster of its own), listed,
# searched (find views) and looked up through a jovofs mount, next to the
# official Node driver doing the same work.
#
#   bench/mongodb_bench.sh [-n USERS] [-l LOOKUPS] [-b JOVOFS_BIN] [-s] [-T]
#
# -s runs FerretDB's SQLite handler instead (it scans the collection for
# every _id lookup: 1.4 s each at 100k users). JOVOFS_TEST_MONGODB_URI runs
# it against a real mongod instead (a database jovofs_bench is created there
# and dropped at the end). -T also measures a cold listing with the times
# (mongodb.listTimes true) and its `ls -l`: with the default (auto) more
# than 100,000 users are listed by _id alone and `ls -l` of the root is left
# out (it would load every record). The daemon's CPU seconds next to a cold
# figure say how much of it was the mount's own work.
#
# Prints one line per figure: what, seconds through the mount, seconds with
# the Node driver, and the ratio (driver / mount: above 1 means the mount is
# faster). The driver's figures are measured inside one node process (node's
# start-up and connect are not counted); the mount's include everything.
# Ratios are from one run: a benchmark, not a test.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
users=100000
lookups=200
sqlite=
with_times=
bin="${JOVOFS_BIN:-$repo/build/jovofs}"
while getopts 'n:l:b:sT' o; do
	case $o in
	n) users=$OPTARG ;;
	l) lookups=$OPTARG ;;
	b) bin=$OPTARG ;;
	s) sqlite=1 ;;
	T) with_times=1 ;;
	*) echo "usage: $0 [-n USERS] [-l LOOKUPS] [-b JOVOFS_BIN] [-s] [-T]" >&2; exit 2 ;;
	esac
done
((lookups <= users)) || lookups=$users
[[ -x $bin ]] || { echo "jovofs binary '$bin' not found (build it or pass -b)" >&2; exit 1; }

work="$(mktemp -d /tmp/jfs-mongo-bench.XXXXXX)"
chmod 755 "$work"
jfs_pid=
pg_bin=/usr/lib/postgresql/15/bin
pg_dir="$work/pg"
pg_started=
# the e2e backend does the installing and, with SQLite, the server's start and stop
export BATS_FILE_TMPDIR="$work"
# shellcheck source=/dev/null
source "$repo/tests/e2e/backend_mongodb.bash"
export JFS_MONGO_DB=jovofs_bench JFS_MONGO_COLL=jovoUsers

pg() { su postgres -s /bin/sh -c "$*"; }

cleanup() {
	if mountpoint -q "$work/mnt" 2>/dev/null; then fusermount3 -u "$work/mnt" || true; fi
	if [[ -n $jfs_pid ]]; then wait "$jfs_pid" 2>/dev/null || true; fi
	if [[ -n "${JFS_MONGO_EXTERNAL:-}" ]]; then
		mongodb_js 'await withColl(async (c, cl) => cl.db(dbName).dropDatabase());' || true
	fi
	backend_server_stop || true
	if [[ -n $pg_started ]]; then pg "$pg_bin/pg_ctl -D $pg_dir -m fast stop" >/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

# FerretDB over a PostgreSQL cluster of its own (DESIGN section 7)
postgres_ferretdb_start() {
	local pg_port
	[[ -x $pg_bin/initdb ]] || { echo "PostgreSQL 15 is needed: apt-get install postgresql" >&2; exit 1; }
	mongodb_ensure_driver
	mongodb_ensure_ferretdb
	mkdir -p "$pg_dir"
	chown postgres "$pg_dir"
	pg "$pg_bin/initdb -D $pg_dir -A trust -U postgres" >/dev/null
	pg_port="$(mongodb_free_port)"
	# the seeding commits a million rows: not each one waits for the disk
	pg "$pg_bin/pg_ctl -D $pg_dir -l $pg_dir/log -w -o \"-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c synchronous_commit=off -c shared_buffers=512MB\" start" >/dev/null
	pg_started=1
	pg "$pg_bin/createdb -h 127.0.0.1 -p $pg_port ferretdb"
	JFS_MONGO_DIR="$work/ferretdb"
	JFS_MONGO_PORT="$(mongodb_free_port)"
	mkdir -p "$JFS_MONGO_DIR"
	export JFS_MONGO_DIR JFS_MONGO_PORT JFS_MONGO_URI="mongodb://127.0.0.1:$JFS_MONGO_PORT/"
	"$JFS_MONGO_FERRETDB" --handler=postgresql \
		--postgresql-url="postgres://postgres@127.0.0.1:$pg_port/ferretdb" \
		--state-dir="$JFS_MONGO_DIR" --listen-addr="127.0.0.1:$JFS_MONGO_PORT" \
		--debug-addr=- --telemetry=disable --log-level=warn \
		>>"$JFS_MONGO_DIR/ferretdb.log" 2>&1 </dev/null &
	echo $! >"$JFS_MONGO_DIR/pid"
	mongodb_wait_ready
}

if [[ -n $sqlite || -n "${JOVOFS_TEST_MONGODB_URI:-}" ]]; then
	backend_server_start
	server="FerretDB 1.24.2, SQLite handler"
	[[ -z "${JOVOFS_TEST_MONGODB_URI:-}" ]] || server=mongod
else
	postgres_ferretdb_start
	server="FerretDB 1.24.2, PostgreSQL handler, PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}')"
fi
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
		user: { data: { name: "user " + i, score: i % 1000, ratio: i / 7,
			city: ["Paris", "Wien", "Berlin", "Oslo"][i % 4] } },
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
printf '# seeded %d users in %.1f s (%s at %s)\n' "$users" "$(echo "$t1 - $t0" | bc)" "$server" \
	"$JFS_MONGO_URI"

# one untimed pass over the collection, so the first timed reader (the
# mount) does not pay alone for reading it into PostgreSQL's cache
mongodb_js 'await withColl(async (c) => { for await (const d of c.find({}, { projection: { _id: 1 } })); });'

mkdir -p "$work/mnt"
backend_config_json | jq '. + {storedElements: {user: true, session: true}}' >"$work/config.json"

now() { date +%s.%N; }
# secs VAR CMD...: wall seconds of CMD into VAR (no subshell: CMD may start the daemon)
secs() {
	local var=$1 a b
	shift
	a=$(now)
	"$@" >/dev/null
	b=$(now)
	printf -v "$var" '%s' "$(echo "$b - $a" | bc)"
}
row() {
	printf '%-52s mount %8.3f s   node driver %8.3f s   driver/mount %7.2fx\n' "$1" "$2" "$3" \
		"$(echo "$3 / $2" | bc -l)"
}
rss() { awk -v k="$1:" '$1 == k { printf "%.1f MiB", $2 / 1024 }' "/proc/$jfs_pid/status"; }
# the daemon's CPU seconds so far (user + system)
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$jfs_pid/stat"; }
mount_jfs() {
	t_start=$(now)
	"$bin" -f -o "config=$work/config.json" -o cache_timeout=600 "$work/mnt" \
		>>"$work/jovofs.log" 2>&1 &
	jfs_pid=$!
	local i
	for ((i = 0; i < 36000; i++)); do mountpoint -q "$work/mnt" && return 0; sleep 0.01; done
	cat "$work/jovofs.log" >&2
	return 1
}
first_entry() {
	python3 -c 'import os, sys; it = os.scandir(sys.argv[1]); next(it)' "$work/mnt"
	echo "$(now) - $t_start" | bc
}
count_ls() {
	local n
	# shellcheck disable=SC2010 # ls -f: one getdents walk, no stat
	n="$(ls -f "$work/mnt" | grep -vc '^\.')"
	[[ "$n" == "$users" ]] || { echo "the mount listed $n users, not $users" >&2; return 1; }
}
count_view() {
	local n
	# shellcheck disable=SC2010
	n="$(ls -f "$work/mnt/.jovofs/find/$1" | grep -vc '^\.')" || true
	[[ "$n" == "$2" ]] || { echo "view $1: $n users, want $2" >&2; return 1; }
}

# The driver's side, timed in-process: prints seconds.
driver_find() {
	mongodb_js '
		await withColl(async (c) => {
			const t = process.hrtime.bigint();
			let n = 0;
			for await (const d of c.find(JSON.parse(args[0]), { projection: { _id: 1 } })) n++;
			if (n !== Number(args[1])) throw new Error("found " + n);
			console.log(Number(process.hrtime.bigint() - t) / 1e9);
		});' "$1" "$2"
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

echo "# $users users, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

mount_jfs
ready=$(echo "$(now) - $t_start" | bc)
first=$(first_entry)
secs list_rest count_ls
list_cold=$(echo "$(now) - $t_start" | bc)
rss_list=$(rss VmRSS)
cpu_list=$(cpu)
secs list_warm count_ls
list_node=$(driver_find '{}' "$users")
row "ls | wc -l of $users users, cold (from the start)" "$list_cold" "$list_node"
row "ls | wc -l, warm" "$list_warm" "$list_node"
printf '# mount ready %.3f s after the start, first entry of ls %.3f s after it;' "$ready" "$first"
printf ' RSS after the listing %s; the daemon used %s s of CPU for it\n' "$rss_list" "$cpu_list"

want_eq=$((users / 1000)) want_ge=$((users / 1000 * 5))
c0=$(cpu)
secs view_eq count_view 'user.data.score=500' "$want_eq"
cpu_eq=$(echo "$(cpu) - $c0" | bc)
secs view_eq_warm count_view 'user.data.score=500' "$want_eq"
node_eq=$(driver_find '{"user.data.score":500}' "$want_eq")
row "find view user.data.score=500 ($want_eq users)" "$view_eq" "$node_eq"
row "  ... warm (its results kept)" "$view_eq_warm" "$node_eq"
c0=$(cpu)
secs view_ge count_view 'user.data.score>=995' "$want_ge"
cpu_ge=$(echo "$(cpu) - $c0" | bc)
node_ge=$(driver_find '{"user.data.score":{"$gte":995}}' "$want_ge")
row "find view user.data.score>=995 ($want_ge users)" "$view_ge" "$node_ge"
printf '# the daemon used %s s and %s s of CPU for the two cold views\n' "$cpu_eq" "$cpu_ge"

shuf -i 0-$((users - 1)) -n "$lookups" --random-source=<(yes) |
	while read -r i; do id_of "$i"; echo; done >"$work/ids"
mapfile -t ids <"$work/ids"
cat_all() { local id; for id in "${ids[@]}"; do cat "$work/mnt/$id/user.json"; done; }
secs look_cold cat_all
secs look_warm cat_all
look_node=$(driver_lookups "$work/ids")
row "cat user.json of $lookups users (cold)" "$look_cold" "$look_node"
row "cat user.json of $lookups users (warm)" "$look_warm" "$look_node"

if ((users <= 100000)); then
	secs lsl ls -l "$work/mnt"
	printf '# ls -l of the root (times from the listing, no record loaded): %.3f s\n' "$lsl"
else
	echo "# ls -l of the root left out: listTimes auto lists $users users by _id alone (-T measures the times)"
fi
printf '# daemon memory: peak RSS %s, RSS now %s\n' "$(rss VmHWM)" "$(rss VmRSS)"

fusermount3 -u "$work/mnt"
wait "$jfs_pid" || true
jfs_pid=
if [[ -n $with_times ]]; then
	jq '.mongodb.listTimes = true' "$work/config.json" >"$work/config.times" &&
		mv "$work/config.times" "$work/config.json"
	mount_jfs
	secs list_times count_ls
	printf '# listTimes true (_id and times): ls | wc -l cold %.3f s from the start, CPU %s s, peak RSS %s\n' \
		"$(echo "$(now) - $t_start" | bc)" "$(cpu)" "$(rss VmHWM)"
	secs lsl ls -l "$work/mnt"
	printf '# ... then ls -l of the root (times from the listing, no record loaded): %.3f s\n' "$lsl"
	fusermount3 -u "$work/mnt"
	wait "$jfs_pid" || true
	jfs_pid=
fi
if grep -Eq 'error|warning' "$work/jovofs.log"; then
	echo "# daemon log:" >&2
	grep -E 'error|warning' "$work/jovofs.log" | head -20 >&2
fi
