#!/usr/bin/env bats
# The daemon's command line.

load common

@test "--help documents the options" {
	run "$JOVOFS_BIN" --help
	[ "$status" -eq 0 ]
	for o in filedb= config= ro allow_delete uid= gid= cache_timeout= write_delay= max_file_size=; do
		[[ "$output" == *"$o"* ]] || { echo "--help does not mention $o" >&2; return 1; }
	done
	check_log_clean_output() { [[ "$output" != *AddressSanitizer* && "$output" != *"runtime error:"* ]]; }
	check_log_clean_output
}

@test "--version prints the version" {
	run "$JOVOFS_BIN" --version
	[ "$status" -eq 0 ]
	[[ "$output" == *0.1.0* || "$output" =~ [0-9]+\.[0-9]+\.[0-9]+ ]]
}

@test "no mountpoint: an error, not a mount" {
	make_config
	run timeout 10 "$JOVOFS_BIN" -f -o "config=$JFS_CONFIG"
	[ "$status" -ne 0 ]
	[ "$status" -ne 124 ]
	[ -n "$output" ]
}

@test "an unknown -o option or a missing config file is an error with a message" {
	run timeout 10 "$JOVOFS_BIN" -f -o config="$JFS_TMP/no-such-config.json" "$JFS_MNT"
	[ "$status" -ne 0 ]
	[ "$status" -ne 124 ]
	[[ "$output" == *no-such-config.json* ]]
	not jfs_is_mounted
}

@test "invalid config JSON refuses to mount, naming the file" {
	printf '{"backend": "filedb",' >"$JFS_CONFIG"
	run timeout 10 "$JOVOFS_BIN" -f -o config="$JFS_CONFIG" "$JFS_MNT"
	[ "$status" -ne 0 ]
	[ "$status" -ne 124 ]
	[[ "$output" == *config.json* ]]
	not jfs_is_mounted
}

@test "without -f the daemon detaches once the mount is ready" {
	seed_json "[$(item alice '{"k":"bg"}')]"
	make_config
	run timeout 20 "$JOVOFS_BIN" -o config="$JFS_CONFIG" "$JFS_MNT"
	[ "$status" -eq 0 ]
	mountpoint -q "$JFS_MNT"
	[ "$(jq -r .data.k "$JFS_MNT/alice/user.json")" = bg ]
	fusermount3 -u "$JFS_MNT"
	for _ in $(seq 100); do jfs_is_mounted || break; sleep 0.05; done
	not jfs_is_mounted
}

@test "-o cache_timeout=0 shows changes behind the mount at once" {
	seed_json "[$(item alice '{"v":1}')]"
	mount_jfs -o cache_timeout=0
	[ "$(jq -c .data.v "$JFS_MNT/alice/user.json")" = 1 ]
	seed_json "[$(item alice '{"v":2}' 2026-02-02T00:00:00.000Z)]"
	sleep 0.2
	[ "$(jq -c .data.v "$JFS_MNT/alice/user.json")" = 2 ]
}

@test "fstab-only words are accepted" {
	mount_jfs -o noauto,_netdev,user
	ls "$JFS_MNT" >/dev/null
}

@test "the mount is a fuse mount of type fuse.jovofs or fuse" {
	mount_jfs
	[[ "$(stat -f -c %T "$JFS_MNT")" == fuse* ]]
	awk -v m="$JFS_MNT" '$2 == m { print $3 }' /proc/self/mounts | grep -Eq '^fuse(\.jovofs)?$'
}
