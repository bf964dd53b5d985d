#!/usr/bin/env bash
# The model suite for one backend (meson: `meson test --suite model`).
#   tests/model/run.bash BACKEND [model.py options]
#   tests/model/run.bash filedb --seed 17 -v       rerun one sequence, step by step
#   tests/model/run.bash mongodb --replay FILE     rerun a shrunk sequence a failure printed
# Starts and stops the backend's server with the e2e harness's own functions
# (tests/e2e/backend_$BACKEND.bash), installs the real Jovo app
# (tests/jovo/install.sh; without it the suite is skipped, or fails under CI),
# and runs tests/model/model.py. Environment: JOVOFS_BIN (default build/jovofs),
# JFS_MODEL_KEEP=1 keeps every sequence's files (mount log, config) in the work dir.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
[[ $# -ge 1 ]] || { echo "usage: $0 BACKEND [model.py options]" >&2; exit 2; }
export JOVOFS_TEST_BACKEND=$1
shift
: "${JOVOFS_BIN:=$REPO/build/jovofs}"
[[ -x "$JOVOFS_BIN" ]] || { echo "jovofs binary '$JOVOFS_BIN' not found" >&2; exit 1; }

# the harness's functions keep their servers' data under BATS_FILE_TMPDIR
WORK="$(mktemp -d "${TMPDIR:-/tmp}/jovofs-model-$JOVOFS_TEST_BACKEND.XXXXXX")"
export BATS_FILE_TMPDIR="$WORK" BATS_TEST_TMPDIR="$WORK/t" BATS_TEST_NUMBER=0
mkdir -p "$BATS_TEST_TMPDIR"
# shellcheck source=../e2e/common.bash
source "$REPO/tests/e2e/common.bash"

status=1
cleanup() {
	backend_server_stop || true
	if [[ $status -eq 0 && -z "${JFS_MODEL_KEEP:-}" ]]; then
		rm -rf "$WORK"
	else
		echo "# model suite files kept in $WORK"
	fi
}
trap cleanup EXIT

if ! "$REPO/tests/jovo/install.sh" >"$WORK/jovo-install.log" 2>&1; then
	if [[ -n "${CI:-}" ]]; then
		echo "tests/jovo/install.sh failed (under CI this fails the suite):" >&2
		cat "$WORK/jovo-install.log" >&2
		exit 1
	fi
	echo "# SKIP: the Jovo packages cannot be installed ($(tail -n 1 "$WORK/jovo-install.log"))"
	status=0
	exit 77
fi

python3 "$HERE/jsjson.py" >/dev/null  # the JavaScript number printing the model relies on
backend_server_start
backend_setup
keep=()
[[ -z "${JFS_MODEL_KEEP:-}" ]] || keep=(--keep)
set +e
python3 "$HERE/model.py" --backend "$JOVOFS_TEST_BACKEND" --template "$(backend_config_json)" \
	--jovofs "$JOVOFS_BIN" --work "$WORK" "${keep[@]}" "$@"
status=$?
set -e
exit $status
