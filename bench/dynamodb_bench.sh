#!/bin/bash
# DynamoDb benchmark: a table of N users (default 100,000; 1,000,000 for
# bench/RESULTS.md) on dynalite, listed, searched (find views) and looked up
# through a jovofs mount, next to awscli doing the same work.
#
#   bench/dynamodb_bench.sh [-n USERS] [-l LOOKUPS] [-b JOVOFS_BIN] [-S "1 2 8"] [-K] [-T] [-d DIR]
#
# Prints one line per figure: what, seconds through the mount, seconds with
# awscli, and the ratio (awscli / mount: above 1 means the mount is faster);
# then the daemon's memory, how soon the mount answered, and (-S) the cold
# listing with other numbers of parallel Scan segments, (-K) with the key
# column alone (dynamodb.listTimes false) and (-T) with the times
# (listTimes true) and its `ls -l`. The daemon's CPU seconds next to a
# cold figure say how much of it was the mount's own work. With the default
# listTimes (auto) a table of more than 100,000 users is listed by its key
# column alone, and `ls -l` of the root is then left out (it would load
# every record). -d keeps dynalite's data in
# DIR and seeds only when DIR holds no table of that size (a million users
# take minutes to seed). Everything else runs on
# loopback and is removed at the end. Ratios are from one run: a benchmark,
# not a test.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
users=100000
lookups=200
segs_also=""
keys_only=
with_times=
data_dir=
bin="${JOVOFS_BIN:-$repo/build/jovofs}"
while getopts 'n:l:b:S:KTd:' o; do
	case $o in
	n) users=$OPTARG ;;
	l) lookups=$OPTARG ;;
	b) bin=$OPTARG ;;
	S) segs_also=$OPTARG ;;
	K) keys_only=1 ;;
	T) with_times=1 ;;
	d) data_dir=$OPTARG ;;
	*) echo "usage: $0 [-n USERS] [-l LOOKUPS] [-b JOVOFS_BIN] [-S SEGMENTS...] [-K] [-T] [-d DIR]" >&2; exit 2 ;;
	esac
done
[[ -x $bin ]] || { echo "jovofs binary '$bin' not found (build it or pass -b)" >&2; exit 1; }

node_dir="$repo/tests/.cache/node"
if [[ ! -f $node_dir/node_modules/dynalite/cli.js ]]; then
	mkdir -p "$node_dir"
	npm install --prefix "$node_dir" --no-audit --no-fund --loglevel=error dynalite@4.0.0 >&2
fi

work="$(mktemp -d /tmp/jfs-ddb-bench.XXXXXX)"
dyn_pid=
jfs_pid=
cleanup() {
	if mountpoint -q "$work/mnt" 2>/dev/null; then fusermount3 -u "$work/mnt" || true; fi
	if [[ -n $jfs_pid ]]; then wait "$jfs_pid" 2>/dev/null || true; fi
	if [[ -n $dyn_pid ]]; then kill "$dyn_pid" 2>/dev/null || true; wait "$dyn_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1 AWS_PAGER="" AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
endpoint="http://127.0.0.1:$port"
table=BenchUsers
aws=(/usr/bin/aws --endpoint-url "$endpoint" --output json)

node "$node_dir/node_modules/dynalite/cli.js" --host 127.0.0.1 --port "$port" \
	--path "${data_dir:-$work/data}" --createTableMs 10 >"$work/dynalite.log" 2>&1 &
dyn_pid=$!
for _ in $(seq 200); do
	curl -s -o /dev/null -X POST -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
		-H 'Content-Type: application/x-amz-json-1.0' -d '{}' "$endpoint/" && break
	sleep 0.05
done

seeded=
if [[ -n $data_dir && -e "$data_dir/.seeded-$users" ]]; then
	seeded=1
else
"${aws[@]}" dynamodb create-table --table-name "$table" \
	--attribute-definitions AttributeName=userId,AttributeType=S \
	--key-schema AttributeName=userId,KeyType=HASH --billing-mode PAY_PER_REQUEST >/dev/null
"${aws[@]}" dynamodb wait table-exists --table-name "$table"

# Seed: Jovo-shaped items, 25 per BatchWriteItem, 16 in flight (dynalite
# does not check signatures, so node speaks HTTP to it directly).
t0=$(date +%s.%N)
node - "$port" "$table" "$users" <<'EOF'
const http = require('http');
const [port, table, n] = [Number(process.argv[2]), process.argv[3], Number(process.argv[4])];
const agent = new http.Agent({keepAlive: true, maxSockets: 16});
const m = v => v === null ? {NULL: true} : typeof v === 'boolean' ? {BOOL: v}
	: typeof v === 'number' ? {N: String(v)} : typeof v === 'string' ? {S: v}
	: Array.isArray(v) ? {L: v.map(m)}
	: {M: Object.fromEntries(Object.entries(v).map(([k, x]) => [k, m(x)]))};
const item = i => m({
	userId: 'amzn1.ask.account.' + String(i).padStart(8, '0'),
	user: {data: {name: 'user ' + i, score: i % 1000, ratio: i / 7,
		city: ['Paris', 'Wien', 'Berlin', 'Oslo'][i % 4]}},
	session: {id: 's-' + i, data: {}, state: [], createdAt: '2026-01-01T00:00:00.000Z',
		updatedAt: '2026-01-01T00:00:00.000Z'},
	createdAt: '2025-06-30T05:50:04.034Z',
	updatedAt: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
}).M;
function post(body) {
	return new Promise((resolve, reject) => {
		const req = http.request({port, host: '127.0.0.1', method: 'POST', path: '/', agent,
			headers: {'Content-Type': 'application/x-amz-json-1.0',
				'X-Amz-Target': 'DynamoDB_20120810.BatchWriteItem',
				'Authorization': 'AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
				'X-Amz-Date': '20260101T000000Z'}}, res => {
			let s = '';
			res.on('data', d => s += d).on('end', () => res.statusCode === 200 ? resolve(JSON.parse(s))
				: reject(new Error(res.statusCode + ' ' + s)));
		});
		req.on('error', reject);
		req.end(JSON.stringify(body));
	});
}
(async () => {
	let next = 0;
	async function worker() {
		while (next < n) {
			const start = next;
			next += 25;
			let reqs = [];
			for (let i = start; i < Math.min(start + 25, n); i++)
				reqs.push({PutRequest: {Item: item(i)}});
			while (reqs.length) {
				const out = await post({RequestItems: {[table]: reqs}});
				reqs = (out.UnprocessedItems && out.UnprocessedItems[table]) || [];
			}
		}
	}
	await Promise.all(Array.from({length: 16}, worker));
	agent.destroy();
})().catch(e => { console.error(e); process.exit(1); });
EOF
t1=$(date +%s.%N)
printf '# seeded %d users in %.1f s\n' "$users" "$(echo "$t1 - $t0" | bc)"
[[ -z $data_dir ]] || touch "$data_dir/.seeded-$users"
fi

mkdir -p "$work/mnt"
jq -n --arg t "$table" --arg e "$endpoint" '{backend: "dynamodb",
	dynamodb: {table: {name: $t}, libraryConfig: {dynamoDbClient: {region: "us-east-1", endpoint: $e}}},
	storedElements: {user: true, session: true}}' >"$work/config.json"

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
	printf '%-52s mount %8.3f s   awscli %8.3f s   awscli/mount %7.2fx\n' "$1" "$2" "$3" \
		"$(echo "$3 / $2" | bc -l)"
}
rss() { awk -v k="$1:" '$1 == k { printf "%.1f MiB", $2 / 1024 }' "/proc/$jfs_pid/status"; }
# the daemon's CPU seconds so far (user + system)
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$jfs_pid/stat"; }

# mount_jfs [OPTIONS...]: start the daemon, wait until the mount answers; t_start is when it started
mount_jfs() {
	t_start=$(now)
	"$bin" -f -o "config=$work/config.json" -o cache_timeout=600 "$@" "$work/mnt" \
		>>"$work/jovofs.log" 2>&1 &
	jfs_pid=$!
	local i
	for ((i = 0; i < 6000; i++)); do mountpoint -q "$work/mnt" && return 0; sleep 0.01; done
	cat "$work/jovofs.log" >&2
	return 1
}
umount_jfs() {
	fusermount3 -u "$work/mnt"
	wait "$jfs_pid" || true
	jfs_pid=
}
# seconds from the daemon's start until the first entry of the root came back
first_entry() {
	python3 -c 'import os, sys; it = os.scandir(sys.argv[1]); next(it)' "$work/mnt"
	echo "$(now) - $t_start" | bc
}
count_ls() {
	local n
	# shellcheck disable=SC2010 # ls -f: getdents only, no stat
	n="$(ls -f "$work/mnt" | grep -vc '^\.')"
	[[ "$n" == "$users" ]] || { echo "the mount listed $n users, not $users" >&2; return 1; }
}
count_view() {
	ls -f "$work/mnt/.jovofs/find/$1" | grep -vc '^\.' >"$work/view.count" || true
	[[ "$(cat "$work/view.count")" == "$2" ]] ||
		{ echo "view $1: $(cat "$work/view.count") users, want $2" >&2; return 1; }
}
aws_count() {
	local n
	n="$("${aws[@]}" dynamodb scan --table-name "$table" --select COUNT --query Count)"
	[[ "$n" == "$users" ]] || { echo "awscli counted $n" >&2; return 1; }
}
aws_keys() {
	local n
	n="$("${aws[@]}" dynamodb scan --table-name "$table" --projection-expression '#k' \
		--expression-attribute-names '{"#k":"userId"}' --query 'length(Items)')"
	[[ "$n" == "$users" ]] || { echo "awscli listed $n" >&2; return 1; }
}
# aws_filter EXPR VALUES_JSON WANT: the ids (key column only) matching EXPR on user.data.score
aws_filter() {
	local n
	n="$("${aws[@]}" dynamodb scan --table-name "$table" --filter-expression "$1" \
		--projection-expression '#k' \
		--expression-attribute-names '{"#k":"userId","#u":"user","#d":"data","#s":"score"}' \
		--expression-attribute-values "$2" --query 'length(Items)')"
	[[ "$n" == "$3" ]] || { echo "awscli found $n, want $3" >&2; return 1; }
}

echo "# dynalite at $endpoint, $users users, jovofs $("$bin" --version 2>&1 | grep -m1 jovofs)," \
	"$(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

# the listing: a cold mount until its first entry and its last
list_cold='' list_warm='' list_aws='' first=''
mount_jfs
ready=$(echo "$(now) - $t_start" | bc)
first=$(first_entry)
secs list_rest count_ls
list_cold=$(echo "$(now) - $t_start" | bc)
rss_list=$(rss VmRSS)
cpu_list=$(cpu)
secs list_warm count_ls
secs list_aws aws_count
secs list_aws_keys aws_keys
row "ls | wc -l of $users users, cold (from the start)" "$list_cold" "$list_aws"
row "ls | wc -l, warm" "$list_warm" "$list_aws"
row "  ... vs awscli scan of the key column" "$list_cold" "$list_aws_keys"
printf '# mount ready %.3f s after the start, first entry of ls %.3f s after it;' "$ready" "$first"
printf ' RSS after the listing %s; the daemon used %s s of CPU for it\n' "$rss_list" "$cpu_list"

# find views: an exact condition (key column only) and one JavaScript compares across types
want_eq=$((users / 1000)) want_ge=$((users / 1000 * 5))
c0=$(cpu)
secs view_eq count_view 'user.data.score=500' "$want_eq"
cpu_eq=$(echo "$(cpu) - $c0" | bc)
secs view_eq_warm count_view 'user.data.score=500' "$want_eq"
secs aws_eq aws_filter '#u.#d.#s = :v' '{":v":{"N":"500"}}' "$want_eq"
row "find view user.data.score=500 ($want_eq users)" "$view_eq" "$aws_eq"
row "  ... warm (its results kept)" "$view_eq_warm" "$aws_eq"
c0=$(cpu)
secs view_ge count_view 'user.data.score>=995' "$want_ge"
cpu_ge=$(echo "$(cpu) - $c0" | bc)
secs aws_ge aws_filter '#u.#d.#s >= :v' '{":v":{"N":"995"}}' "$want_ge"
row "find view user.data.score>=995 ($want_ge users)" "$view_ge" "$aws_ge"
printf '# the daemon used %s s and %s s of CPU for the two cold views\n' "$cpu_eq" "$cpu_ge"

# lookups: random ids, cold (never read) then warm
mapfile -t ids < <(shuf -i 0-$((users - 1)) -n "$lookups" --random-source=<(yes) |
	awk '{ printf "amzn1.ask.account.%08d\n", $1 }')
cat_all() { local id; for id in "${ids[@]}"; do cat "$work/mnt/$id/user.json"; done; }
get_each() {
	local id
	for id in "${ids[@]}"; do
		"${aws[@]}" dynamodb get-item --table-name "$table" --consistent-read \
			--key "{\"userId\":{\"S\":\"$id\"}}" --projection-expression '#u' \
			--expression-attribute-names '{"#u":"user"}'
	done
}
secs look_cold cat_all
secs look_warm cat_all
secs look_aws get_each
row "cat user.json of $lookups users (cold)" "$look_cold" "$look_aws"
row "cat user.json of $lookups users (warm)" "$look_warm" "$look_aws"

if ((users <= 100000)); then
	secs lsl ls -l "$work/mnt"
	printf '# ls -l of the root (times from the listing, no record loaded): %.3f s\n' "$lsl"
else
	echo "# ls -l of the root left out: listTimes auto lists $users users by the key alone (-T measures the times)"
fi
printf '# daemon memory: peak RSS %s, RSS now %s\n' "$(rss VmHWM)" "$(rss VmRSS)"
umount_jfs

# the cold listing with other numbers of segments (default 4)
for s in $segs_also; do
	mount_jfs -o "total_segments=$s"
	secs seg_time count_ls
	printf '# total_segments=%s: ls | wc -l cold %.3f s from the start, peak RSS %s\n' "$s" \
		"$(echo "$(now) - $t_start" | bc)" "$(rss VmHWM)"
	umount_jfs
done
# the cold listing of the key column alone (no times: ls -l would load every record)
if [[ -n $keys_only ]]; then
	jq '.dynamodb.listTimes = false' "$work/config.json" >"$work/config.keys" &&
		mv "$work/config.keys" "$work/config.json"
	mount_jfs
	secs seg_time count_ls
	printf '# listTimes false (key column only): ls | wc -l cold %.3f s from the start, peak RSS %s\n' \
		"$(echo "$(now) - $t_start" | bc)" "$(rss VmHWM)"
	umount_jfs
fi
# the cold listing with the times, and ls -l from them
if [[ -n $with_times ]]; then
	jq '.dynamodb.listTimes = true' "$work/config.json" >"$work/config.times" &&
		mv "$work/config.times" "$work/config.json"
	mount_jfs
	secs seg_time count_ls
	printf '# listTimes true (key and times): ls | wc -l cold %.3f s from the start, CPU %s s, peak RSS %s\n' \
		"$(echo "$(now) - $t_start" | bc)" "$(cpu)" "$(rss VmHWM)"
	secs lsl ls -l "$work/mnt"
	printf '# ... then ls -l of the root (times from the listing, no record loaded): %.3f s\n' "$lsl"
	umount_jfs
fi
if grep -Eq 'error|warning' "$work/jovofs.log"; then
	echo "# daemon log:" >&2
	grep -E 'error|warning' "$work/jovofs.log" | head -20 >&2
fi
