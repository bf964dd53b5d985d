#!/usr/bin/env bash
# Installs what the MongoDb e2e suites need, cached under tests/.cache:
# FerretDB 1.24.2 (tests/.cache/bin/ferretdb, built with go) and the Node
# driver mongodb 4.17.2 (tests/.cache/mongodb/node). Idempotent; quick when cached.
# With JOVOFS_TEST_MONGODB_URI set, FerretDB is not needed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
# shellcheck source=/dev/null
source tests/e2e/backend_mongodb.bash
mongodb_ensure_driver
if [[ -z "${JOVOFS_TEST_MONGODB_URI:-}" ]]; then
	mongodb_ensure_ferretdb
fi
