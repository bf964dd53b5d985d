# shellcheck shell=bash
# Common helpers of the jovofs end-to-end suites (bats). Load with
#   load common
# at the top of a .bats file.
#
# Environment
#   JOVOFS_BIN            the daemon (default: $REPO/build/jovofs); point it at
#                         build-asan/jovofs to test the sanitized build
#   JFS_PROBE             the jfs-probe helper (default: next to JOVOFS_BIN,
#                         tests/e2e/jfs-probe)
#   JOVOFS_TEST_BACKEND   filedb (default) | dynamodb | mongodb
#   JFS_LOG_DIR           when set, every test's daemon log is copied there
#   JFS_MOUNT_TIMEOUT     seconds to wait for a mount / an unmount (default 20)
#   JOVOFS_MEASURE_BIN    a plain (unsanitized) daemon, for the memory figures
#                         of limits.bats that ASan's allocator would blur
#
# What a test gets (setup)
#   $JFS_MNT      the mountpoint (empty dir in the test's temp dir)
#   $JFS_CONFIG   path of the config file make_config writes
#   $JFS_LOG      the daemon's stderr for this test
#   $JFS_PID      the daemon's pid while mounted
#   $JFS_TMP      scratch dir of the test, outside the mount
#
# Helpers
#   make_config [STORED_ELEMENTS_JSON [EXTRA_TOP_LEVEL_JSON]]
#                 write $JFS_CONFIG: backend_config_json + storedElements
#                 (omitted: jovofs's defaults) + extra keys merged on top
#                 (recursively: a backend part adds to the backend's own)
#   seed_json '<json array of items>'   store items, as the Jovo app would
#   stored ID     the stored item, jq -S formatted (empty + status 1 if absent)
#   stored_field ID JQ_FILTER           jq -c FILTER of the stored item
#   mount_jfs [ARGS...]                 mount (foreground daemon in background);
#                 calls make_config first when no config was written
#   umount_jfs    unmount, wait for the daemon, check its log and exit status
#   probe ARGS... run jfs-probe
#   mount_second DIR [ARGS...]          a second daemon on the same store, at
#                 DIR: $JFS_MNT2, $JFS_PID2 (unmounted by teardown)
#   umount_second unmount it
#   require_backend NAME                skip unless JOVOFS_TEST_BACKEND=NAME
#   iso_now_ms    now in ms since the epoch; iso_ms TS: ISO-8601 -> ms
#   enc_iso MS    ms since the epoch -> ISO-8601 like Date.toISOString()
#
# The backend interface: tests/e2e/backend_${JOVOFS_TEST_BACKEND}.bash
# defines these functions (all run inside the bats process, may use $BATS_*):
#   backend_server_start    once per .bats file (setup_file): start the
#                           server on loopback, export what the others need.
#                           No-op for filedb. Must be idempotent-safe.
#   backend_server_stop     once per .bats file (teardown_file)
#   backend_setup           per test: a fresh empty store (filedb: a new file
#                           $BATS_TEST_TMPDIR/db/db.json holding [];
#                           others: a fresh table / collection name)
#   backend_config_json     print the backend part of the config as one JSON
#                           object: {"backend":"filedb","filedb":{"pathToFile":..}}
#   backend_seed FILE       store the items of the JSON array in FILE the way
#                           the real Jovo app stores them (ids under "id";
#                           an existing item with the same id is replaced)
#   backend_get ID          print the stored item as plain JSON with the id
#                           under "id" (as Jovo's DbItem has it), or print
#                           nothing and return 1 when absent
#   backend_ids             print the stored ids, one a line (ids with a
#                           newline are not used by the suites)
#   backend_name            optional; defaults to $JOVOFS_TEST_BACKEND
# Numbers: backend_get prints numbers as JavaScript's JSON.stringify would
# (node is used for that), so 0.1 stays 0.1 in comparisons.

JFS_E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
JFS_REPO="$(cd "$JFS_E2E_DIR/../.." && pwd)"
: "${JOVOFS_BIN:=$JFS_REPO/build/jovofs}"
: "${JOVOFS_TEST_BACKEND:=filedb}"
: "${JFS_MOUNT_TIMEOUT:=20}"
if [[ -z "${JFS_PROBE:-}" ]]; then
	if [[ -x "$(dirname "$JOVOFS_BIN")/tests/e2e/jfs-probe" ]]; then
		JFS_PROBE="$(dirname "$JOVOFS_BIN")/tests/e2e/jfs-probe"
	else
		JFS_PROBE="$JFS_REPO/build/tests/e2e/jfs-probe"
	fi
fi
export JOVOFS_BIN JOVOFS_TEST_BACKEND JFS_PROBE

# node for the helpers: without the extra CA bundle (costs 0.3 s a start here)
jnode() {
	NODE_EXTRA_CA_CERTS='' node "$@"
}

# Storage layouts used by many tests.
# shellcheck disable=SC2034
ALL_ON='{"user":true,"session":true,"history":{"enabled":true,"size":3},"createdAt":true,"updatedAt":true}'

# shellcheck source=/dev/null
source "$JFS_E2E_DIR/backend_${JOVOFS_TEST_BACKEND}.bash"

if ! declare -F backend_name >/dev/null; then
	backend_name() { echo "$JOVOFS_TEST_BACKEND"; }
fi

# --- bats hooks; a file that defines its own calls these --------------------

jfs_setup_file() {
	backend_server_start
}

jfs_teardown_file() {
	backend_server_stop
}

jfs_setup() {
	JFS_TMP="$BATS_TEST_TMPDIR/tmp"
	JFS_MNT="$BATS_TEST_TMPDIR/mnt"
	JFS_CONFIG="$BATS_TEST_TMPDIR/config.json"
	JFS_LOG="$BATS_TEST_TMPDIR/jovofs.log"
	# each mount's journal in the test's directory (a test may give -o journal=)
	JFS_JOURNAL="$BATS_TEST_TMPDIR/journal/jfs.journal"
	JFS_PID=
	JFS_PID2=
	# shellcheck disable=SC2034
	JFS_SYNC="$BATS_TEST_TMPDIR/sync"
	mkdir -p "$JFS_TMP" "$JFS_MNT"
	: >"$JFS_LOG"
	rm -f "$JFS_CONFIG"
	backend_setup
}

jfs_teardown() {
	local rc=0
	if [[ -n "${JFS_PID2:-}" ]]; then
		umount_second || rc=1
	fi
	if [[ -n "${JFS_PID:-}" ]] || jfs_is_mounted; then
		umount_jfs || rc=1
	fi
	if [[ -n "${JFS_LOG_DIR:-}" && -s "${JFS_LOG:-/nonexistent}" ]]; then
		mkdir -p "$JFS_LOG_DIR"
		cp "$JFS_LOG" "$JFS_LOG_DIR/$(basename "$BATS_TEST_FILENAME" .bats)-$BATS_TEST_NUMBER.log" || true
	fi
	if [[ -z "${BATS_TEST_COMPLETED:-}" && $rc -eq 0 ]] && [[ -s "${JFS_LOG:-/nonexistent}" ]]; then
		echo "--- daemon log (last 60 lines) of $JFS_LOG"
		tail -n 60 "$JFS_LOG"
	fi
	return $rc
}

setup_file() { jfs_setup_file; }
teardown_file() { jfs_teardown_file; }
setup() { jfs_setup; }
teardown() { jfs_teardown; }

# --- helpers ----------------------------------------------------------------

require_backend() {
	[[ "$JOVOFS_TEST_BACKEND" == "$1" ]] || skip "needs JOVOFS_TEST_BACKEND=$1"
}

probe() {
	"$JFS_PROBE" "$@"
}

# The mount table entry of $JFS_MNT, even when the daemon is gone and the
# mountpoint answers ENOTCONN.
jfs_is_mounted() {
	[[ -n "${JFS_MNT:-}" ]] || return 1
	awk -v m="$JFS_MNT" '$2 == m && $3 ~ /^fuse/ { f = 1 } END { exit !f }' /proc/self/mounts
}

# shellcheck disable=SC2120
make_config() {
	local se="${1:-}" extra="${2:-}"
	[[ -n "$extra" ]] || extra='{}'
	local backend
	backend="$(backend_config_json)"
	if [[ -n "$se" ]]; then
		jq -n --argjson b "$backend" --argjson se "$se" --argjson x "$extra" \
			'($b + {storedElements: $se}) * $x' >"$JFS_CONFIG"
	else
		jq -n --argjson b "$backend" --argjson x "$extra" '$b * $x' >"$JFS_CONFIG"
	fi
}

seed_json() {
	local f
	f="$(mktemp "$BATS_TEST_TMPDIR/seed.XXXXXX")"
	printf '%s\n' "$1" >"$f"
	backend_seed "$f"
	rm -f "$f"
}

stored() {
	local out
	out="$(backend_get "$1")" || return 1
	[[ -n "$out" ]] || return 1
	printf '%s\n' "$out" | jq -S .
}

stored_field() {
	local out
	out="$(backend_get "$1")" || return 1
	printf '%s\n' "$out" | jq -c "$2"
}

mount_jfs() {
	[[ -e "$JFS_CONFIG" ]] || make_config
	if [[ ! -x "$JOVOFS_BIN" ]]; then
		echo "jovofs binary '$JOVOFS_BIN' not found (build it or set JOVOFS_BIN)" >&2
		return 1
	fi
	local jopt=()
	[[ "$*" == *journal=* ]] || jopt=(-o "journal=$JFS_JOURNAL")
	echo "=== mount: $JOVOFS_BIN -f -o config=$JFS_CONFIG ${jopt[*]} $* $JFS_MNT" >>"$JFS_LOG"
	"$JOVOFS_BIN" -f -o "config=$JFS_CONFIG" "${jopt[@]}" "$@" "$JFS_MNT" >>"$JFS_LOG" 2>&1 </dev/null 3>&- &
	JFS_PID=$!
	local deadline=$((SECONDS + JFS_MOUNT_TIMEOUT))
	while ((SECONDS < deadline)); do
		# statfs reaches the daemon: a stale mount left by a killed one
		# (ENOTCONN) does not count as mounted
		if jfs_is_mounted && mountpoint -q "$JFS_MNT" 2>/dev/null &&
			stat -f "$JFS_MNT" >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$JFS_PID" 2>/dev/null; then
			local st=0
			wait "$JFS_PID" || st=$?
			JFS_PID=
			echo "jovofs exited with status $st before mounting; its log:" >&2
			cat "$JFS_LOG" >&2
			return 1
		fi
		sleep 0.02
	done
	echo "jovofs did not mount '$JFS_MNT' within ${JFS_MOUNT_TIMEOUT}s; its log:" >&2
	cat "$JFS_LOG" >&2
	return 1
}

# Fail when the daemon's log holds a sanitizer report.
check_log_clean() {
	if grep -Eq 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer|ThreadSanitizer' "$JFS_LOG"; then
		echo "sanitizer report in the daemon log $JFS_LOG:" >&2
		cat "$JFS_LOG" >&2
		return 1
	fi
}

umount_jfs() {
	local rc=0
	if jfs_is_mounted; then
		fusermount3 -u "$JFS_MNT" 2>>"$JFS_LOG" || fusermount3 -uz "$JFS_MNT" 2>>"$JFS_LOG" ||
			umount -l "$JFS_MNT" 2>>"$JFS_LOG" || true
	fi
	if [[ -n "${JFS_PID:-}" ]]; then
		local deadline=$((SECONDS + JFS_MOUNT_TIMEOUT)) st=0
		while kill -0 "$JFS_PID" 2>/dev/null && ((SECONDS < deadline)); do
			sleep 0.02
		done
		if kill -0 "$JFS_PID" 2>/dev/null; then
			echo "jovofs (pid $JFS_PID) did not exit within ${JFS_MOUNT_TIMEOUT}s of the unmount" >&2
			kill -TERM "$JFS_PID" 2>/dev/null || true
			sleep 1
			kill -KILL "$JFS_PID" 2>/dev/null || true
			rc=1
		fi
		wait "$JFS_PID" 2>/dev/null || st=$?
		if ((rc == 0 && st != 0)); then
			echo "jovofs exited with status $st after the unmount" >&2
			rc=1
		fi
		JFS_PID=
	fi
	if jfs_is_mounted; then
		umount -l "$JFS_MNT" 2>/dev/null || true
	fi
	check_log_clean || rc=1
	return $rc
}

# A second daemon on the same store, mounted at $1 with options $2...:
# JFS_MNT2 and JFS_PID2 name it.
mount_second() {
	local mnt=$JFS_MNT pid=$JFS_PID journal=$JFS_JOURNAL
	JFS_MNT=$1
	shift
	mkdir -p "$JFS_MNT"
	# a journal is one mount's
	JFS_JOURNAL="$BATS_TEST_TMPDIR/journal2/jfs.journal"
	mount_jfs "$@" || { JFS_MNT=$mnt JFS_PID=$pid JFS_JOURNAL=$journal; return 1; }
	JFS_MNT2=$JFS_MNT JFS_PID2=$JFS_PID
	JFS_MNT=$mnt JFS_PID=$pid JFS_JOURNAL=$journal
}

umount_second() {
	local mnt=$JFS_MNT pid=$JFS_PID rc=0
	JFS_MNT=$JFS_MNT2 JFS_PID=$JFS_PID2
	umount_jfs || rc=1
	JFS_MNT=$mnt JFS_PID=$pid JFS_PID2=
	return $rc
}

# The daemon died (killed on purpose): reap it, clean the stale mount.
jfs_forget_daemon() {
	if [[ -n "${JFS_PID:-}" ]]; then
		wait "$JFS_PID" 2>/dev/null || true
		JFS_PID=
	fi
	if jfs_is_mounted; then
		fusermount3 -uz "$JFS_MNT" 2>/dev/null || umount -l "$JFS_MNT" 2>/dev/null || true
	fi
}

jfs_daemon_alive() {
	[[ -n "${JFS_PID:-}" ]] && kill -0 "$JFS_PID" 2>/dev/null
}

iso_now_ms() {
	local ns
	ns="$(date +%s%N)"
	echo $((ns / 1000000))
}

# ms since the epoch -> 2026-11-20T10:02:11.482Z
enc_iso() {
	local ms=$1
	printf '%s.%03dZ\n' "$(date -u -d "@$((ms / 1000))" +%Y-%m-%dT%H:%M:%S)" $((ms % 1000))
}

# ISO-8601 -> ms since the epoch
iso_ms() {
	jnode -e 'const t = Date.parse(process.argv[1]); if (isNaN(t)) process.exit(1); console.log(t)' "$1"
}

# The name a user id gets in the mount (DESIGN section 2), for ids whose
# encoded name is within NAME_MAX.
enc_name() {
	jnode -e '
		const id = Buffer.from(process.argv[1], "utf8");
		let out = "";
		for (let i = 0; i < id.length; i++) {
			const c = id[i];
			if (c === 0x25 || c === 0x2f || c < 0x20 || c === 0x7f || (i === 0 && c === 0x2e))
				out += "%" + c.toString(16).toUpperCase().padStart(2, "0");
			else
				out += String.fromCharCode(c);
		}
		process.stdout.write(Buffer.from(out, "latin1"));' "$1"
}

# A Jovo-rendered element: JSON.stringify(v, null, 2) + "\n"
js_pretty() {
	jnode -e '
		let s = ""; process.stdin.on("data", d => s += d).on("end", () =>
			process.stdout.write(JSON.stringify(JSON.parse(s), null, 2) + "\n"));'
}

# A minimal Jovo item. item ID [USER_DATA_JSON] [UPDATED_ISO]
item() {
	local id=$1 data=${2:-'{}'} upd=${3:-2026-01-02T03:04:05.678Z}
	jq -cn --arg id "$id" --argjson d "$data" --arg u "$upd" \
		'{id: $id, user: {data: $d}, createdAt: "2025-06-30T05:50:04.034Z", updatedAt: $u}'
}

# A full Jovo item with every element and an unknown key.
full_item() {
	local id=$1 upd=${2:-2026-01-02T03:04:05.678Z} supd=${3:-}
	[[ -n "$supd" ]] || supd="$(enc_iso "$(iso_now_ms)")"
	jq -cn --arg id "$id" --arg u "$upd" --arg su "$supd" '{
		id: $id,
		user: {data: {name: "Ada", score: 3, tags: ["a", "b"]}},
		session: {id: "s-1", data: {step: 2}, state: [{component: "Main"}],
			createdAt: "2026-01-02T03:00:00.000Z", updatedAt: $su},
		history: {items: [
			{output: [{message: "newest"}], nlu: {intent: "A"}},
			{output: [{message: "middle"}], nlu: {intent: "B"}},
			{output: [{message: "old"}], nlu: {intent: "C"}},
			{output: [{message: "older"}], nlu: {intent: "D"}}]},
		custom: {plugin: "x", n: [1, 2.5, "three"], nested: {deep: true}},
		createdAt: "2025-06-30T05:50:04.034Z",
		updatedAt: $u
	}'
}

# assert_errno WANT OUTPUT: OUTPUT is WANT, or "<step>:WANT" when a step
# other than the final one may report it (EPERM/EROFS/EFBIG from open/write).
assert_errno_any_step() {
	local want=$1 got=$2
	[[ "$got" == "$want" || "$got" == *":$want" ]] || {
		echo "expected $want (from any step), got '$got'" >&2
		return 1
	}
}

assert_equal_str() {
	if [[ "$1" != "$2" ]]; then
		printf 'expected: %q\n     got: %q\n' "$2" "$1" >&2
		return 1
	fi
}

# updatedAt of the stored item is within [FROM_MS - 1000, now + 1000]
assert_updated_since() {
	local id=$1 from=$2 u t now
	u="$(stored_field "$id" .updatedAt | jq -r .)"
	[[ "$u" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$ ]] || {
		echo "stored updatedAt '$u' is not Date.toISOString() format" >&2
		return 1
	}
	t="$(iso_ms "$u")"
	now="$(iso_now_ms)"
	((t >= from - 1000 && t <= now + 1000)) || {
		echo "stored updatedAt $u not between $(enc_iso "$from") and now" >&2
		return 1
	}
}

# Retry CMD... for up to 5 s until it succeeds (for what a daemon thread
# finishes just after the reply the test saw); fail with its last output.
eventually() {
	local i
	for ((i = 0; i < 50; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	"$@"
}

# not CMD...: succeed when CMD fails. Use instead of "! CMD", which bash's
# errexit ignores, so it could never fail a test.
not() {
	if "$@"; then
		echo "expected to fail: $*" >&2
		return 1
	fi
	return 0
}
