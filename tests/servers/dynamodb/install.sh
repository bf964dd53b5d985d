#!/usr/bin/env bash
# Installs what the DynamoDb suites need, cached under tests/.cache: dynalite
# 4.0.0 (tests/.cache/node, with npm), as backend_dynamodb.bash would on
# the first e2e run; here before the tests, so that the unit test
# backend-contract (which never installs) finds it. Idempotent; quick when
# cached. With JOVOFS_TEST_DYNAMODB_ENDPOINT set, dynalite is not needed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
export JFS_REPO="$PWD"
# shellcheck source=/dev/null
source tests/e2e/backend_dynamodb.bash
if [[ -z "${JOVOFS_TEST_DYNAMODB_ENDPOINT:-}" ]]; then
	ddb_install_dynalite
fi
