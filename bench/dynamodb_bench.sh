#!/bin/bash
# DynamoDb benchmark: a table of N users (default 100,000) on dynalite,
# listed and looked up through a jovofs mount, next to awscli doing the
# same work.
#
#   bench/dynamodb_bench.sh [-n USERS] [-l LOOKUPS] [-b JOVOFS_BIN]
#
# Prints one line per figure: what, seconds through the mount, seconds with
# awscli, and the ratio (awscli / mount: above 1 means the mount is faster).
# Everything runs on loopback and is removed at the end.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
users=100000
lookups=200
bin="${JOVOFS_BIN:-$repo/build/jovofs}"
while getopts 'n:l:b:' o; do
	case $o in
	n) users=$OPTARG ;;
	l) lookups=$OPTARG ;;
	b) bin=$OPTARG ;;
	*) echo "usage: $0 [-n USERS] [-l LOOKUPS] [-b JOVOFS_BIN]" >&2; exit 2 ;;
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
	--path "$work/data" --createTableMs 10 >"$work/dynalite.log" 2>&1 &
dyn_pid=$!
for _ in $(seq 200); do
	curl -s -o /dev/null -X POST -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
		-H 'Content-Type: application/x-amz-json-1.0' -d '{}' "$endpoint/" && break
	sleep 0.05
done

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
	user: {data: {name: 'user ' + i, score: i % 1000, ratio: i / 7}},
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

mkdir -p "$work/mnt"
jq -n --arg t "$table" --arg e "$endpoint" '{backend: "dynamodb",
	dynamodb: {table: {name: $t}, libraryConfig: {dynamoDbClient: {region: "us-east-1", endpoint: $e}}},
	storedElements: {user: true, session: true}}' >"$work/config.json"
"$bin" -f -o "config=$work/config.json" -o cache_timeout=600 "$work/mnt" >"$work/jovofs.log" 2>&1 &
jfs_pid=$!
for _ in $(seq 400); do mountpoint -q "$work/mnt" && break; sleep 0.05; done
mountpoint -q "$work/mnt" || { cat "$work/jovofs.log" >&2; exit 1; }

# time CMD...: wall seconds of CMD (output discarded)
secs() {
	local a b
	a=$(date +%s.%N)
	"$@" >/dev/null
	b=$(date +%s.%N)
	echo "$b - $a" | bc
}
row() {
	printf '%-44s mount %8.3f s   awscli %8.3f s   awscli/mount %6.2fx\n' "$1" "$2" "$3" \
		"$(echo "$3 / $2" | bc -l)"
}

count_ls() { [[ "$(ls -f "$work/mnt" | grep -vc '^\.')" == "$users" ]]; }
scan_all() {
	"${aws[@]}" dynamodb scan --table-name "$table" --projection-expression '#k, createdAt, updatedAt' \
		--expression-attribute-names '{"#k":"userId"}' --query 'Count'
}
list_cold=$(secs count_ls)
list_warm=$(secs count_ls)
list_aws=$(secs scan_all)
row "list all $users users (cold)" "$list_cold" "$list_aws"
row "list all $users users (warm)" "$list_warm" "$list_aws"
lsl_cold=$(secs ls -l "$work/mnt")
row "ls -l (times from the listing)" "$lsl_cold" "$list_aws"

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
get_batch() {
	local i keys
	for ((i = 0; i < ${#ids[@]}; i += 100)); do
		keys=$(printf '%s\n' "${ids[@]:i:100}" | jq -R '{userId: {S: .}}' | jq -cs .)
		"${aws[@]}" dynamodb batch-get-item --request-items \
			"{\"$table\":{\"Keys\":$keys,\"ConsistentRead\":true}}"
	done
}
look_cold=$(secs cat_all)
look_warm=$(secs cat_all)
look_aws=$(secs get_each)
look_batch=$(secs get_batch)
row "cat user.json of $lookups users (cold)" "$look_cold" "$look_aws"
row "cat user.json of $lookups users (warm)" "$look_warm" "$look_aws"
row "  ... vs awscli batch-get-item, 100 a call" "$look_cold" "$look_batch"

fusermount3 -u "$work/mnt"
wait "$jfs_pid" || true
jfs_pid=
