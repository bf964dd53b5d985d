#!/usr/bin/env bash
# All of jovofs's tests, the way CI runs them:
#   tests/run.sh [MESON_TEST_ARGS...]     e.g. tests/run.sh --suite e2e-filedb
# Builds build/ (normal) and build-asan/ (ASan+UBSan), installs the test
# servers (tests/servers/*/install.sh), runs `meson test` in build-asan
# (unit tests and the bats e2e suites against the sanitized daemon) and
# ends with one line "N passed, N failed, N skipped" counting unit tests and
# single bats test cases. Exit status 0 only when nothing failed.
# Without MESON_TEST_ARGS it also runs the fuzz targets for
# JFS_FUZZ_SECONDS (default 10; 0 skips them) each (tests/fuzz/run.sh),
# counted as one test; without clang-14 that test is skipped (and fails
# when CI=true, since .ci/run installs it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$PWD"

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:print_summary=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=0}"

setup_build() { # DIR [MESON_ARGS...]
	local dir=$1
	shift
	if [[ -f "$dir/build.ninja" ]]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null
	else
		rm -rf "$dir"
		meson setup "$dir" "$@"
	fi
}

echo "== servers"
# Hooks: each tests/servers/<name>/install.sh installs (or finds in
# tests/.cache) what the <name> backend suites need. See tests/servers/README.md.
mkdir -p "$REPO/tests/.cache"
for hook in "$REPO"/tests/servers/*/install.sh; do
	[[ -e "$hook" ]] || continue
	echo "-- $hook"
	if ! bash "$hook"; then
		echo "warning: $hook failed; that backend's suites will fail or skip" >&2
	fi
done

echo "== build (normal)"
setup_build build
ninja -C build

echo "== build (ASan+UBSan)"
setup_build build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
ninja -C build-asan

echo "== tests (build-asan)"
# the few memory figures ASan's own allocator would blur are taken of the plain build
export JOVOFS_MEASURE_BIN="$REPO/build/jovofs"
rm -rf build-asan/tests/e2e/logs
status=0
meson test -C build-asan --print-errorlogs --no-rebuild "$@" || status=$?

fuzz_result=
fuzz_seconds="${JFS_FUZZ_SECONDS:-10}"
if [[ $# -eq 0 && "$fuzz_seconds" == 0 ]]; then
	fuzz_result=skip
elif [[ $# -eq 0 ]]; then
	echo "== fuzz (tests/fuzz/run.sh $fuzz_seconds)"
	if command -v "${CC_FUZZ:-clang-14}" >/dev/null; then
		fuzz_result=pass
		bash tests/fuzz/run.sh "$fuzz_seconds" || fuzz_result=fail
	elif [[ "${CI:-}" == true ]]; then
		echo "fuzz: ${CC_FUZZ:-clang-14} not found (.ci/run installs clang-14)" >&2
		fuzz_result=fail
	else
		echo "fuzz: skipped: no ${CC_FUZZ:-clang-14} (apt-get install clang-14 libclang-rt-14-dev)"
	fi
	if [[ $fuzz_result == fail ]]; then
		status=1
	fi
fi

# Count: a unit test is one test; a TAP test (the bats suites) counts its
# test cases; the fuzz step is one test.
summary="$(JFS_FUZZ_RESULT="$fuzz_result" python3 - build-asan/meson-logs/testlog.json <<'PY'
import json, os, re, sys
passed = failed = skipped = 0
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    t = json.loads(line)
    res = t.get("result")
    out = t.get("stdout") or ""
    if t.get("protocol") == "tap" or re.search(r"^1\.\.\d+", out, re.M):
        n_ok = n_fail = n_skip = 0
        plan = re.search(r"^1\.\.(\d+)", out, re.M)
        for l in out.splitlines():
            if re.match(r"ok \d+.*# skip", l, re.I):
                n_skip += 1
            elif l.startswith("ok "):
                n_ok += 1
            elif l.startswith("not ok "):
                n_fail += 1
        missing = int(plan.group(1)) - (n_ok + n_fail + n_skip) if plan else 0
        if res not in ("OK", "SKIP", "EXPECTEDFAIL") and n_fail == 0:
            n_fail = max(1, missing)  # crashed or timed out before reporting
        passed += n_ok; failed += n_fail; skipped += n_skip
    elif res in ("OK", "EXPECTEDFAIL"):
        passed += 1
    elif res == "SKIP":
        skipped += 1
    else:
        failed += 1
fuzz = os.environ.get("JFS_FUZZ_RESULT")
if fuzz == "pass":
    passed += 1
elif fuzz == "fail":
    failed += 1
elif fuzz == "skip":
    skipped += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
)" || summary="0 passed, 1 failed"
if [[ $status -ne 0 && "$summary" == *" 0 failed"* ]]; then
	summary="${summary/ 0 failed/ 1 failed}"
fi
echo "daemon logs: build-asan/tests/e2e/logs/"
echo "$summary"
exit $status
