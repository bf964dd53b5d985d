#!/usr/bin/env bats
# Who may read and write (review findings 2 and 9): the modes the mount
# shows are -o umask/dmode/fmode, chmod and chown take effect (in memory),
# .jovofs/ is no wider than the records, the owner may remove conflicts.

load common

setup() {
	jfs_setup
	seed_json "[$(item alice '{"ssn":"123-45-6789"}'), $(item bob)]"
	U="$JFS_MNT/alice"
}

# let uid 65534 reach $JFS_MNT (bats makes its temp dirs 0700)
open_path_for_nobody() {
	local d=$BATS_TEST_TMPDIR
	while [[ "$d" == /tmp/* ]]; do
		chmod o+x "$d"
		d=$(dirname "$d")
	done
}

as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}

@test "allow_other with umask=077: another local user reads nothing, not even .jovofs" {
	mount_jfs -o allow_other,umask=077
	open_path_for_nobody
	[ "$(probe stat-mode "$JFS_MNT")" = 700 ]
	[ "$(probe stat-mode "$U")" = 700 ]
	[ "$(probe stat-mode "$U/user.json")" = 600 ]
	[ "$(probe stat-mode "$U/record.json")" = 400 ]
	[ "$(probe stat-mode "$JFS_MNT/.jovofs")" = 500 ]
	[ "$(probe stat-mode "$JFS_MNT/.jovofs/errors")" = 400 ]
	run as_nobody "$JFS_PROBE" read "$U/user.json"
	[[ "$output" == *EACCES* ]]
	run as_nobody ls "$JFS_MNT"
	[ "$status" -ne 0 ]
	# the owner still reads and writes
	[ "$(jq -r .data.ssn "$U/user.json")" = 123-45-6789 ]
	[ "$(probe write-close "$U/user.json" '{"data":{"ssn":"x"}}')" = OK ]
}

@test "dmode and fmode set the modes shown; without allow_other nobody else gets in anyway" {
	mount_jfs -o dmode=0750,fmode=0640
	[ "$(probe stat-mode "$U")" = 750 ]
	[ "$(probe stat-mode "$U/user.json")" = 640 ]
	[ "$(probe stat-mode "$U/record.json")" = 440 ]
	[ "$(probe stat-mode "$JFS_MNT/.jovofs/conflicts")" = 750 ]
	[ "$(probe stat-mode "$JFS_MNT/.jovofs/metrics")" = 440 ]
}

@test "chmod and chown take effect in the mount (and store nothing); .jovofs's modes are fixed" {
	mount_jfs -o allow_other
	open_path_for_nobody
	[ "$(as_nobody "$JFS_PROBE" read "$U/user.json" | jq -r .data.ssn)" = 123-45-6789 ]
	chmod 600 "$U/user.json"
	[ "$(probe stat-mode "$U/user.json")" = 600 ]
	run as_nobody "$JFS_PROBE" read "$U/user.json"
	[[ "$output" == *EACCES* ]]
	chmod 700 "$JFS_MNT/bob"
	run as_nobody ls "$JFS_MNT/bob"
	[ "$status" -ne 0 ]
	chown 65534 "$JFS_MNT/bob/user.json"
	[ "$(stat -c %u "$JFS_MNT/bob/user.json")" = 65534 ]
	# a chmod that cannot take effect fails
	run chmod 644 "$JFS_MNT/.jovofs/errors"
	[ "$status" -ne 0 ]
	# an edit of the file keeps its mode
	[ "$(probe write-close "$U/user.json" '{"data":{"ssn":"y"}}')" = OK ]
	[ "$(probe stat-mode "$U/user.json")" = 600 ]
	umount_jfs
	[ "$(stored_field alice .user.data.ssn)" = '"y"' ]
}

@test "a mount owner who is not root removes the conflicts it kept" {
	mount_jfs -o allow_other,uid=65534,gid=65534
	open_path_for_nobody
	[ "$(as_nobody jq -r .data.ssn "$U/user.json")" = 123-45-6789 ]
	seed_json "[$(item alice '{"ssn":"app"}' 2026-05-05T05:05:05.005Z)]"
	run as_nobody "$JFS_PROBE" write-close "$U/user.json" '{"data":{"ssn":"mount"}}'
	[ "$output" = ESTALE ]
	[ -n "$(ls "$JFS_MNT/.jovofs/conflicts")" ]
	run as_nobody sh -c "rm \"$JFS_MNT\"/.jovofs/conflicts/*"
	[ "$status" -eq 0 ]
	[ -z "$(ls "$JFS_MNT/.jovofs/conflicts")" ]
}
