#!/bin/bash
# Installs the real Jovo packages (tests/jovo/package.json, pinned by
# package-lock.json) into tests/jovo/node_modules, the reference client of
# the jovofs interoperability tests (tests/e2e/jovo.bats).
#
# Idempotent: it does nothing when node_modules was installed from the same
# package.json + package-lock.json and the packages still load.
# Needs node and npm (Debian: apt-get install nodejs npm) and the npm registry.
# Exit status 0 when the packages are usable afterwards.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"

for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "install.sh: $tool not found (apt-get install nodejs npm)" >&2
        exit 1
    fi
done

# meson may run the suite for several backends at once: one install at a time
exec 9>"${TMPDIR:-/tmp}/jovofs-jovo-install.lock"
flock 9

stamp=node_modules/.jovofs-install-stamp
want=$( (node --version; cat package.json package-lock.json) | sha256sum | cut -d' ' -f1)

usable() {
    node -e '
        require("@jovotech/framework"); require("@jovotech/platform-core");
        require("@jovotech/db-filedb"); require("@jovotech/db-dynamodb");
        require("@jovotech/db-mongodb");
        if (typeof require("class-transformer").plainToClass !== "function")
            throw new Error("class-transformer lacks plainToClass (need 0.4.0)");
    ' >/dev/null 2>&1
}

if [[ -f $stamp && "$(cat "$stamp")" == "$want" ]] && usable; then
    exit 0
fi

# --legacy-peer-deps: @jovotech/db-dynamodb@4.1.0 declares a peer
# @jovotech/framework@4.1.0, which npm would otherwise refuse next to 4.6.2.
npm ci --legacy-peer-deps --no-audit --no-fund --loglevel=error >&2
if ! usable; then
    echo "install.sh: the Jovo packages were installed but do not load" >&2
    exit 1
fi
echo "$want" > "$stamp"
