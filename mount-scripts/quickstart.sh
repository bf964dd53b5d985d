#!/usr/bin/env bash
# Quick start: install what jovofs needs (Debian 12), build it, create a
# sample FileDb with a few users and mount it.
#
#   ./mount-scripts/quickstart.sh /tmp/jovo-users
#
# Unmount with: fusermount3 -u /tmp/jovo-users
set -euo pipefail

mnt=${1:-/tmp/jovo-users}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

sudo=
if [ "$(id -u)" -ne 0 ]; then
	sudo=sudo
fi

need=()
for pkg in build-essential meson ninja-build pkg-config libfuse3-dev fuse3 libjansson-dev \
	libcurl4-openssl-dev libmongoc-dev libbson-dev libmicrohttpd-dev; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
		need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
	echo "quickstart: installing ${need[*]}"
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq "${need[@]}"
fi

if [ ! -f build/build.ninja ]; then
	meson setup build
fi
meson compile -C build

mkdir -p db
if [ ! -s db/db.json ]; then
	# the layout Jovo's FileDb writes: JSON.stringify(users, null, 2), no trailing newline
	now=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
	printf '%s' '[
  {
    "id": "amzn1.ask.account.AF3EXAMPLE",
    "user": {
      "data": {
        "name": "Ada",
        "score": 3
      }
    },
    "createdAt": "2026-06-30T05:50:04.034Z",
    "updatedAt": "'"$now"'"
  },
  {
    "id": "web-user-42",
    "user": {
      "data": {
        "language": "en",
        "visits": 17
      }
    },
    "createdAt": "2026-09-01T08:00:00.000Z",
    "updatedAt": "2026-11-20T10:02:11.482Z"
  },
  {
    "id": "google/assistant.user",
    "user": {
      "data": {}
    },
    "createdAt": "2026-10-10T10:10:10.010Z",
    "updatedAt": "2026-10-10T10:10:10.010Z"
  }
]' > db/db.json
	echo "quickstart: created a sample FileDb at $top/db/db.json"
fi

mkdir -p "$mnt"
if mountpoint -q "$mnt"; then
	echo "quickstart: $mnt is already mounted"
else
	"$top/build/jovofs" -o "filedb=$top/db/db.json" "$mnt"
fi
echo "quickstart: mounted $top/db/db.json on $mnt"
echo
ls -l "$mnt"
echo
echo "try:  cat $mnt/web-user-42/user.json"
echo "      sed -i 's/17/18/' $mnt/web-user-42/user.json"
echo "      cat $mnt/.jovofs/config"
echo "stop: fusermount3 -u $mnt"
