#!/usr/bin/env bash
# Build the libFuzzer targets and run each for a while:
#   tests/fuzz/run.sh SECONDS [TARGET...]     e.g. tests/fuzz/run.sh 10
#                                                  tests/fuzz/run.sh 600 json idcodec
# Builds build-fuzz/ (clang-14, -Dfuzz=true, ASan+UBSan; CC_FUZZ names
# another clang), then runs each target (all by default) for SECONDS on a
# scratch copy of its corpus tests/fuzz/corpus/TARGET/ in
# build-fuzz/fuzz/TARGET/corpus/ (kept between runs, so local runs build on
# each other; the repo's corpus grows only by inputs added on purpose).
# Prints per target: executions, coverage (cov/ft of libFuzzer's last
# status line), and the path of the input of any finding. Exits 0 when
# nothing was found, 1 on a finding, 2 when the build fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
REPO="$PWD"
BUILD="$REPO/build-fuzz"

usage() {
	echo "usage: tests/fuzz/run.sh SECONDS [TARGET...]" >&2
	exit 2
}
[[ $# -ge 1 && "$1" =~ ^[0-9]+$ && "$1" -gt 0 ]] || usage
seconds=$1
shift

cc="${CC_FUZZ:-clang-14}"
if ! command -v "$cc" >/dev/null; then
	echo "fuzz: $cc not found (apt-get install clang-14 libclang-rt-14-dev)" >&2
	exit 2
fi

echo "== fuzz: build ($BUILD)"
if [[ ! -f "$BUILD/build.ninja" ]]; then
	rm -rf "$BUILD"
	if ! CC="$cc" meson setup "$BUILD" -Dfuzz=true -Db_sanitize=address,undefined \
		-Db_lundef=false -Dbuildtype=debugoptimized -De2e=false >"$REPO/build-fuzz.log" 2>&1; then
		cat "$REPO/build-fuzz.log" >&2
		rm -f "$REPO/build-fuzz.log"
		exit 2
	fi
	mv "$REPO/build-fuzz.log" "$BUILD/meson-setup.log"
fi
# a meson.build that changed (a new target) regenerates build.ninja first
ninja -C "$BUILD" build.ninja >/dev/null
mapfile -t built < <(ninja -C "$BUILD" -t targets all |
	sed -n 's|^tests/fuzz/fuzz_\([a-z0-9_]*\): .*|\1|p' | sort -u)
if [[ ${#built[@]} -eq 0 ]]; then
	echo "fuzz: no fuzz targets in $BUILD (configured without -Dfuzz=true?)" >&2
	exit 2
fi
if [[ $# -gt 0 ]]; then
	targets=("$@")
else
	targets=("${built[@]}")
fi
for t in "${targets[@]}"; do
	if [[ ! " ${built[*]} " =~ [[:space:]]${t}[[:space:]] ]]; then
		echo "fuzz: no target '$t' (have: ${built[*]})" >&2
		exit 2
	fi
done
ninja_targets=()
for t in "${targets[@]}"; do
	ninja_targets+=("tests/fuzz/fuzz_$t")
done
if ! ninja -C "$BUILD" "${ninja_targets[@]}" >"$BUILD/fuzz-build.log" 2>&1; then
	cat "$BUILD/fuzz-build.log" >&2
	exit 2
fi

dict_for() {
	case "$1" in
	aws_ini) echo "$REPO/tests/fuzz/ini.dict" ;;
	filedb_scan | json | dynamodb | bson_write | policy_write) echo "$REPO/tests/fuzz/json.dict" ;;
	esac
}

# libFuzzer reports what the sanitizers find; a leak is a finding too
export ASAN_OPTIONS="detect_leaks=1:handle_abort=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

found=0
summary=()
for t in "${targets[@]}"; do
	work="$BUILD/fuzz/$t"
	mkdir -p "$work/corpus" "$work/artifacts"
	if [[ -d "$REPO/tests/fuzz/corpus/$t" ]]; then
		cp -n "$REPO/tests/fuzz/corpus/$t"/* "$work/corpus/" 2>/dev/null || true
	fi
	args=(-max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1
		-artifact_prefix="$work/artifacts/")
	dict="$(dict_for "$t")"
	if [[ -n "$dict" ]]; then
		args+=(-dict="$dict")
	fi
	echo "== fuzz: $t (${seconds}s)"
	status=0
	"$BUILD/tests/fuzz/fuzz_$t" "${args[@]}" "$work/corpus" >"$work/log" 2>&1 || status=$?

	execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)"
	stats="$(grep -a -E '^#[0-9]+.*cov: ' "$work/log" | tail -n 1 || true)"
	cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$stats")"
	ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$stats")"
	# a slow unit (one run over 10 s, often just a busy machine) is no finding
	crash="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$work/log" |
		grep -v '/slow-unit-' | tail -n 1 || true)"
	if [[ $status -eq 0 ]]; then
		result=ok
	else
		result=FOUND
		found=1
		grep -a -E 'fuzz: |ERROR: |SUMMARY: |^    #[0-9]+ ' "$work/log" | head -n 30 >&2 || true
		echo "fuzz: $t: exit status $status; log: $work/log" >&2
	fi
	line="$(printf '%-14s %-5s %10s execs  cov %5s  ft %6s' "$t" "$result" "${execs:-?}" \
		"${cov:-?}" "${ft:-?}")"
	if [[ -n "$crash" ]]; then
		line+="  input: $crash"
	fi
	echo "$line"
	summary+=("$line")
done

echo "== fuzz: summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
if [[ $found -ne 0 ]]; then
	echo "fuzz: FOUND something: reproduce with build-fuzz/tests/fuzz/fuzz_TARGET INPUT" >&2
	exit 1
fi
echo "fuzz: nothing found"
