#!/usr/bin/env bash
# jovofs FileDb benchmark: see bench/README.md.
#
#   bench/filedb_bench.sh [SIZE...]        default: 10000 100000
#
# Environment:
#   JOVOFS_BIN   the daemon (default: build/jovofs of this checkout)
#   BENCH_DIR    work directory on a real disk (default /var/tmp/jovofs-bench);
#                generated FileDbs are cached there as gen-N.json
#   SHM_DIR      tmpfs directory for the reference tree (default /dev/shm)
#   REPS         repetitions of the fast workloads (default 5; 3 above 20000 users)
#   COLD_REPS    fresh mounts for the cold workloads (default 3)
#   SLOW_REPS    repetitions of jq and Jovo's own save (default 3)
#   EDITS        sequential sed -i edits (default 1000)
#   WRITE_DELAY  the mount's write_delay=MS (default 100)
#   NODE         node binary for bench/jovo_save.js (default node; skipped if
#                tests/jovo/node_modules is missing)
#   KEEP=1       keep the work files
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BIN=${JOVOFS_BIN:-$REPO/build/jovofs}
BENCH_DIR=${BENCH_DIR:-/var/tmp/jovofs-bench}
SHM_DIR=${SHM_DIR:-/dev/shm}
REPS_SET=${REPS:-}
COLD_REPS=${COLD_REPS:-3}
SLOW_REPS=${SLOW_REPS:-3}
EDITS=${EDITS:-1000}
WRITE_DELAY=${WRITE_DELAY:-100}
NODE=${NODE:-node}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(10000 100000)

die() { echo "filedb_bench: $*" >&2; exit 1; }
note() { printf '  [%s] %s\n' "$(date +%T)" "$*" >&2; }

[ -x "$BIN" ] || die "no daemon at $BIN (build it: meson setup build && ninja -C build, or set JOVOFS_BIN)"
for t in jq python3 fusermount3 mountpoint tar; do
	command -v "$t" >/dev/null || die "$t is needed"
done
HAVE_JOVO=1
if ! command -v "$NODE" >/dev/null || [ ! -d "$REPO/tests/jovo/node_modules/@jovotech/db-filedb" ]; then
	HAVE_JOVO=0
	note "no node or tests/jovo/node_modules (run tests/jovo/install.sh): Jovo's own save is skipped"
fi

mkdir -p "$BENCH_DIR"
RUN=$(mktemp -d "$BENCH_DIR/run.XXXXXX")
MNT=$RUN/mnt
TREE=$SHM_DIR/jovofs-bench-tree.$$
mkdir -p "$MNT"
DPID=
LOG=$RUN/daemon.log

cleanup() {
	set +e
	if mountpoint -q "$MNT"; then fusermount3 -u "$MNT"; fi
	if [ -n "$DPID" ]; then wait "$DPID" 2>/dev/null; fi
	rm -rf "$TREE"
	if [ "${KEEP:-0}" != 1 ]; then rm -rf "$RUN"; else echo "work files kept in $RUN" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ helpers

# walk_pair MNT_TIMES TMPFS_TIMES REQ_VAR CMD: one warm-up of CMD on each
# side, then REPS timed runs alternating mount and tmpfs; REQ_VAR gets the
# FUSE requests of the first timed run on the mount.
walk_pair() {
	local -n req=$3
	local cmd=$4 q0 q1 r
	D=$MNT eval "$cmd"
	D=$TREE eval "$cmd"
	for ((r = 0; r < REPS; r++)); do
		q0=$(metric jovofs_fuse_requests_total)
		D=$MNT timeit "$1" "$cmd"
		q1=$(metric jovofs_fuse_requests_total)
		((r > 0)) || req=$((q1 - q0 - QOVH))
		D=$TREE timeit "$2" "$cmd"
	done
}

# Warm walks of the mounted tree and of the tmpfs tree, interleaved: sets
# the caller's W_CAT T_CAT W_GREP T_GREP (seconds) and REQ_CAT REQ_GREP
# (FUSE requests of one walk). $1 names the mount in the progress notes.
warm_walks() {
	local CATCMD='find "$D" -name user.json -print0 | xargs -0 cat >/dev/null'
	local GREPCMD='grep -rF --exclude-dir=.jovofs -e "$NEEDLE" "$D" >/dev/null'
	W_CAT=() T_CAT=() W_GREP=() T_GREP=()
	local q0 q1
	note "warm cat of every user.json and grep -r${1:+ ($1)}: 1 warm-up + $REPS runs each, interleaved"
	# what reading the metrics file itself costs in requests
	q0=$(metric jovofs_fuse_requests_total)
	q1=$(metric jovofs_fuse_requests_total)
	QOVH=$((q1 - q0))
	walk_pair W_CAT T_CAT REQ_CAT "$CATCMD"
	walk_pair W_GREP T_GREP REQ_GREP "$GREPCMD"
}


# seconds since an EPOCHREALTIME stamp
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f", b - a }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# a time in seconds, printed with a sensible unit
fmt_t() { awk -v t="$1" 'BEGIN { if (t < 0.001) printf "%.1f us", t * 1e6; else if (t < 1) printf "%.2f ms", t * 1e3; else printf "%.2f s", t }'; }
fmt_mb() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
drop_shm_cache() { :; }

mount_fs() { # [EXTRA_OPTIONS]
	local t0=$EPOCHREALTIME i
	"$BIN" -f -o "filedb=$DB,write_delay=$WRITE_DELAY${1:+,$1}" "$MNT" 2>>"$LOG" &
	DPID=$!
	for ((i = 0; i < 6000; i++)); do
		mountpoint -q "$MNT" && break
		kill -0 "$DPID" 2>/dev/null || { tail -20 "$LOG" >&2; die "daemon exited before mounting"; }
		sleep 0.02
	done
	mountpoint -q "$MNT" || die "not mounted after 120 s"
	MOUNT_T+=("$(since "$t0")")
}

umount_fs() {
	local t0=$EPOCHREALTIME
	fusermount3 -u "$MNT"
	wait "$DPID" || die "daemon exited with status $? (see $LOG)"
	DPID=
	UMOUNT_T=$(since "$t0")
}

metric() { # metric NAME[{labels}] -> value from the status folder
	awk -v k="$1" '$1 == k { print $2 }' "$MNT/.jovofs/metrics" 2>/dev/null || true
}

# time one shell command line (eval'd), append the seconds to array $1
timeit() {
	local __arr=$1 t0
	shift
	t0=$EPOCHREALTIME
	eval "$@"
	eval "$__arr+=(\"\$(since $t0)\")"
}

# ------------------------------------------------------------------ one size

bench_size() {
	local N=$1 GEN=$BENCH_DIR/gen-$1.json
	local r i id
	MOUNT_T=()
	REPS=${REPS_SET:-$((N > 20000 ? 3 : 5))}

	echo
	echo "=== $N users ==="
	if [ ! -s "$GEN" ]; then
		note "generating $GEN"
		python3 "$HERE/gen_filedb.py" -n "$N" -o "$GEN" 2>/dev/null
	fi
	DB=$RUN/db.json
	cp "$GEN" "$DB"
	sync "$DB"
	local SIZE
	SIZE=$(stat -c %s "$DB")

	# ---- the tmpfs reference tree: the mount's own tree, copied
	note "copying the mounted tree to $TREE"
	rm -rf "$TREE"
	mkdir -p "$TREE"
	mount_fs
	tar -C "$MNT" --exclude=./.jovofs -cf - . | tar -C "$TREE" -xf -
	umount_fs
	local IDS
	mapfile -t IDS < <(ls "$TREE" | shuf --random-source=<(yes))
	[ ${#IDS[@]} -eq "$N" ] || die "tree has ${#IDS[@]} users, expected $N"
	[ "$N" -ge $((EDITS + 100)) ] || die "need at least EDITS+100 users"
	# users: [0, EDITS) sed edits; EDITS+10.. echo edits; EDITS+40.. cold lookups; EDITS+70.. jq/Jovo
	local NEEDLE=${IDS[$((N - 1))]}

	# ---- cold: a fresh mount per measurement
	local COLD_LS=() TMP_LS=() COLD_CAT=() JQ_GET=()
	note "cold ls -l and cold lookup: $COLD_REPS fresh mounts each"
	for ((r = 0; r < COLD_REPS; r++)); do
		id=${IDS[$((EDITS + 40 + r))]}
		mount_fs
		timeit COLD_CAT 'cat "$MNT/$id/user.json" >/dev/null'
		umount_fs
		mount_fs
		timeit COLD_LS 'ls -l "$MNT" >/dev/null'
		umount_fs
		timeit TMP_LS 'ls -l "$TREE" >/dev/null'
	done
	for ((r = 0; r < REPS - COLD_REPS; r++)); do
		timeit TMP_LS 'ls -l "$TREE" >/dev/null'
	done
	note "jq lookups on the raw file: $SLOW_REPS"
	for ((r = 0; r < SLOW_REPS; r++)); do
		id=${IDS[$((EDITS + 40 + r))]}
		timeit JQ_GET 'jq --arg id "$id" ".[] | select(.id == \$id) | .user" "$DB" >/dev/null'
	done

	# ---- warm: one mount for everything that follows
	mount_fs
	local W_CAT T_CAT W_GREP T_GREP REQ_CAT REQ_GREP QOVH
	warm_walks
	# the same ls -l, warm, for information
	local W_LS=()
	for ((r = 0; r < REPS; r++)); do timeit W_LS 'ls -l "$MNT" >/dev/null'; done

	# ---- one edit: close() returning
	local E_MNT=() E_TMP=() JQ_EDIT=() JOVO_SAVE=() JOVO_HANDLE=()
	note "single edits: $REPS through the mount and on tmpfs"
	for ((r = 0; r < REPS; r++)); do
		id=${IDS[$((EDITS + 10 + r))]}
		local body="{\"data\":{\"name\":\"Echo$r\",\"score\":$r}}"
		timeit E_MNT 'echo "$body" > "$MNT/$id/user.json"'
		timeit E_TMP 'echo "$body" > "$TREE/$id/user.json"'
	done
	note "jq edits written back: $SLOW_REPS"
	local JQDB=$RUN/db-jq.json
	cp "$GEN" "$JQDB"
	for ((r = 0; r < SLOW_REPS; r++)); do
		id=${IDS[$((EDITS + 70 + r))]}
		timeit JQ_EDIT 'jq --arg id "$id" "map(if .id == \$id then .user.data.name = \"jq$r\" else . end)" "$JQDB" > "$JQDB.tmp" && mv "$JQDB.tmp" "$JQDB"'
	done
	rm -f "$JQDB"
	if [ "$HAVE_JOVO" = 1 ]; then
		note "Jovo's own FileDb save: $SLOW_REPS"
		local JVDB=$RUN/db-jovo.json out
		cp "$GEN" "$JVDB"
		for ((r = 0; r < SLOW_REPS; r++)); do
			id=${IDS[$((EDITS + 70 + r))]}
			out=$(NODE_ENV=production "$NODE" "$HERE/jovo_save.js" --path "$JVDB" --user "$id" --value "jovo$r")
			JOVO_SAVE+=("$(jq -r '.save_ms / 1000' <<<"$out")")
			JOVO_HANDLE+=("$(jq -r '.handle_ms / 1000' <<<"$out")")
		done
		rm -f "$JVDB"
	fi

	# ---- sequential sed -i edits, then fsync, then durability checks
	note "$EDITS sequential sed -i edits through the mount, then on tmpfs"
	local SED_M SED_T FSYNC_T t0 k
	t0=$EPOCHREALTIME
	for ((k = 0; k < EDITS; k++)); do
		sed -i "s/\"name\": \"[^\"]*\"/\"name\": \"Sed$k\"/" "$MNT/${IDS[$k]}/user.json"
	done
	SED_M=$(since "$t0")
	t0=$EPOCHREALTIME
	sync "$MNT/${IDS[$((EDITS - 1))]}/user.json" # fsync(2): the daemon saves what is pending
	FSYNC_T=$(since "$t0")
	t0=$EPOCHREALTIME
	for ((k = 0; k < EDITS; k++)); do
		sed -i "s/\"name\": \"[^\"]*\"/\"name\": \"Sed$k\"/" "$TREE/${IDS[$k]}/user.json"
	done
	SED_T=$(since "$t0")

	# what the disk does for the same bytes (the fsync above saved the file once)
	local DD_T
	t0=$EPOCHREALTIME
	dd if="$DB" of="$RUN/dd.out" bs=1M conv=fsync status=none
	DD_T=$(since "$t0")
	rm -f "$RUN/dd.out"

	# the file on disk right after fsync returned, while still mounted
	printf '%s\n' "${IDS[@]:0:EDITS}" >"$RUN/sed-ids"
	local AFTER_FSYNC
	AFTER_FSYNC=$(python3 - "$DB" "$RUN/sed-ids" <<'EOF'
import json, sys
users = {u["id"]: u for u in json.load(open(sys.argv[1], encoding="utf-8"))}
ids = open(sys.argv[2]).read().split("\n")[:-1]
print(sum(1 for k, i in enumerate(ids)
          if users.get(i, {}).get("user", {}).get("data", {}).get("name") == "Sed%d" % k))
EOF
)

	# ---- memory, then unmount
	local HWM RSS
	HWM=$(awk '/^VmHWM:/ { print $2 * 1024 }' "/proc/$DPID/status")
	RSS=$(awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$DPID/status")
	umount_fs
	local AFTER_UMOUNT
	printf '%s\n' "${IDS[@]:EDITS+10:REPS}" >"$RUN/echo-ids"
	AFTER_UMOUNT=$(python3 - "$DB" "$RUN/sed-ids" "$RUN/echo-ids" "$N" <<'EOF'
import json, sys
items = json.load(open(sys.argv[1], encoding="utf-8"))
users = {u["id"]: u for u in items}
sed = open(sys.argv[2]).read().split("\n")[:-1]
echo = open(sys.argv[3]).read().split("\n")[:-1]
ok = sum(1 for k, i in enumerate(sed)
         if users.get(i, {}).get("user", {}).get("data", {}).get("name") == "Sed%d" % k)
eok = sum(1 for r, i in enumerate(echo)
          if users.get(i, {}).get("user") == {"data": {"name": "Echo%d" % r, "score": r}})
print(ok, eok, len(items), len(users))
EOF
)
	local SED_OK ECHO_OK NITEMS NUNIQ
	read -r SED_OK ECHO_OK NITEMS NUNIQ <<<"$AFTER_UMOUNT"

	# ---- the same warm walks on a read-only mount: no open/close round trips
	local RW_UMOUNT_T=$UMOUNT_T RW_CAT=("${W_CAT[@]}") RW_TCAT=("${T_CAT[@]}")
	local RW_GREP=("${W_GREP[@]}") RW_TGREP=("${T_GREP[@]}") RW_REQ_CAT=$REQ_CAT RW_REQ_GREP=$REQ_GREP
	mount_fs ro
	warm_walks "-o ro"
	umount_fs
	local RO_CAT=("${W_CAT[@]}") RO_TCAT=("${T_CAT[@]}") RO_GREP=("${W_GREP[@]}") RO_TGREP=("${T_GREP[@]}")
	local RO_REQ_CAT=$REQ_CAT RO_REQ_GREP=$REQ_GREP
	W_CAT=("${RW_CAT[@]}") T_CAT=("${RW_TCAT[@]}") W_GREP=("${RW_GREP[@]}") T_GREP=("${RW_TGREP[@]}")
	REQ_CAT=$RW_REQ_CAT REQ_GREP=$RW_REQ_GREP UMOUNT_T=$RW_UMOUNT_T

	# ---- the table
	local m_cls m_tls m_ccat m_jq m_wcat m_tcat m_wgrep m_tgrep m_em m_et m_jqe m_js m_jh m_wls m_mnt
	m_cls=$(median "${COLD_LS[@]}"); m_tls=$(median "${TMP_LS[@]}")
	m_ccat=$(median "${COLD_CAT[@]}"); m_jq=$(median "${JQ_GET[@]}")
	m_wcat=$(median "${W_CAT[@]}"); m_tcat=$(median "${T_CAT[@]}")
	m_wgrep=$(median "${W_GREP[@]}"); m_tgrep=$(median "${T_GREP[@]}")
	local m_rcat m_rtcat m_rgrep m_rtgrep
	m_rcat=$(median "${RO_CAT[@]}"); m_rtcat=$(median "${RO_TCAT[@]}")
	m_rgrep=$(median "${RO_GREP[@]}"); m_rtgrep=$(median "${RO_TGREP[@]}")
	m_em=$(median "${E_MNT[@]}"); m_et=$(median "${E_TMP[@]}")
	m_jqe=$(median "${JQ_EDIT[@]}")
	m_wls=$(median "${W_LS[@]}"); m_mnt=$(median "${MOUNT_T[@]}")
	local load
	load=$(cut -d' ' -f1-3 /proc/loadavg)

	{
	echo
	printf '%s users, FileDb %s (%s bytes/user), %s CPUs, load %s, write_delay=%s ms\n' \
		"$N" "$(fmt_mb "$SIZE")" "$((SIZE / N))" "$(nproc)" "$load" "$WRITE_DELAY"
	printf 'medians of %s runs (cold: %s fresh mounts; jq and Jovo: %s runs)\n\n' "$REPS" "$COLD_REPS" "$SLOW_REPS"
	printf '%-44s %12s %12s %-22s %9s  %s\n' "workload" "jovofs" "reference" "(reference is)" "ratio" "target"
	printf '%-44s %12s %12s %-22s %9s  %s\n' "--------" "------" "---------" "--------------" "-----" "------"
	row() { printf '%-44s %12s %12s %-22s %9s  %s\n' "$@"; }
	row "cold ls -l of the root (fresh mount)" "$(fmt_t "$m_cls")" "$(fmt_t "$m_tls")" "tmpfs ls -l" "$(div "$m_cls" "$m_tls")x" "<= 1.5x"
	row "warm ls -l of the root" "$(fmt_t "$m_wls")" "$(fmt_t "$m_tls")" "tmpfs ls -l" "$(div "$m_wls" "$m_tls")x" ""
	row "warm cat of every user.json" "$(fmt_t "$m_wcat")" "$(fmt_t "$m_tcat")" "tmpfs" "$(div "$m_wcat" "$m_tcat")x" "<= 1.2x"
	row "warm grep -r" "$(fmt_t "$m_wgrep")" "$(fmt_t "$m_tgrep")" "tmpfs" "$(div "$m_wgrep" "$m_tgrep")x" "<= 1.5x"
	row "warm cat of every user.json, -o ro" "$(fmt_t "$m_rcat")" "$(fmt_t "$m_rtcat")" "tmpfs" "$(div "$m_rcat" "$m_rtcat")x" "<= 1.2x"
	row "warm grep -r, -o ro" "$(fmt_t "$m_rgrep")" "$(fmt_t "$m_rtgrep")" "tmpfs" "$(div "$m_rgrep" "$m_rtgrep")x" "<= 1.5x"
	row "cold lookup: cat ID/user.json" "$(fmt_t "$m_ccat")" "$(fmt_t "$m_jq")" "jq select on the file" "$(div "$m_jq" "$m_ccat")x faster" "hash hit, not a scan"
	row "one edit: echo > ID/user.json (close)" "$(fmt_t "$m_em")" "$(fmt_t "$m_et")" "tmpfs" "$(div "$m_em" "$m_et")x" ""
	row "  vs jq edit written back (jq ... && mv)" "$(fmt_t "$m_em")" "$(fmt_t "$m_jqe")" "jq map + mv" "$(div "$m_jqe" "$m_em")x faster" ""
	if [ "$HAVE_JOVO" = 1 ]; then
		local m_js m_jh
		m_js=$(median "${JOVO_SAVE[@]}"); m_jh=$(median "${JOVO_HANDLE[@]}")
		row "  vs Jovo FileDb saveData of one user" "$(fmt_t "$m_em")" "$(fmt_t "$m_js")" "Jovo saveData" "$(div "$m_js" "$m_em")x faster" ">= 100x faster"
		row "  vs Jovo app.handle() (load + save)" "$(fmt_t "$m_em")" "$(fmt_t "$m_jh")" "Jovo request" "$(div "$m_jh" "$m_em")x faster" ""
	fi
	row "$EDITS sequential sed -i edits" "$(fmt_t "$SED_M")" "$(fmt_t "$SED_T")" "tmpfs" "$(div "$SED_M" "$SED_T")x" "<= 3x"
	row "  + fsync of the last edited file" "$(fmt_t "$FSYNC_T")" "" "" "" ""
	row "  + both, vs tmpfs" "$(fmt_t "$(awk -v a="$SED_M" -v b="$FSYNC_T" 'BEGIN{print a+b}')")" "$(fmt_t "$SED_T")" "tmpfs" "$(div "$(awk -v a="$SED_M" -v b="$FSYNC_T" 'BEGIN{print a+b}')" "$SED_T")x" ""
	row "write-back: fsync = one save of the file" "$(fmt_t "$FSYNC_T")" "$(fmt_t "$DD_T")" "dd conv=fsync of file" "$(div "$FSYNC_T" "$DD_T")x" "disk speed"
	row "daemon peak RSS (VmHWM) vs file size" "$(fmt_mb "$HWM")" "$(fmt_mb "$SIZE")" "file size" "$(div "$HWM" "$SIZE")x" "< 1.5x"
	echo
	printf 'durability: %s/%s sed edits in the file right after fsync returned (still mounted);\n' "$AFTER_FSYNC" "$EDITS"
	printf '            %s/%s sed edits and %s/%s echo edits after unmount; %s items, %s distinct ids (expected %s)\n' \
		"$SED_OK" "$EDITS" "$ECHO_OK" "$REPS" "$NITEMS" "$NUNIQ" "$N"
	printf 'daemon: mount ready in %s (median), unmount + final flush %s, RSS at unmount %s\n' \
		"$(fmt_t "$m_mnt")" "$(fmt_t "$UMOUNT_T")" "$(fmt_mb "$RSS")"
	printf 'FUSE requests per warm run: cat of every user.json %s (%s users), grep -r %s; with -o ro: %s and %s\n' \
		"$REQ_CAT" "$N" "$REQ_GREP" "$RO_REQ_CAT" "$RO_REQ_GREP"
	} | tee -a "$RUN/results.txt" "$BENCH_DIR/results-$N.txt.new"
	mv "$BENCH_DIR/results-$N.txt.new" "$BENCH_DIR/results-$N.txt"
	rm -rf "$TREE"
	[ "$AFTER_FSYNC" = "$EDITS" ] && [ "$SED_OK" = "$EDITS" ] && [ "$ECHO_OK" = "$REPS" ] \
		&& [ "$NITEMS" = "$N" ] && [ "$NUNIQ" = "$N" ] || { echo "DURABILITY CHECK FAILED" >&2; FAILED=1; }
}

FAILED=0
echo "jovofs FileDb benchmark: $BIN, work dir $RUN, tmpfs tree $TREE"
for n in "${SIZES[@]}"; do
	bench_size "$n"
done
echo
echo "ratios: jovofs time / reference time unless marked 'faster' (reference / jovofs)."
exit "$FAILED"
