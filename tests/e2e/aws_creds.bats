#!/usr/bin/env bats
# DynamoDb only: the AWS credential chain (issue 11), each source against a
# real implementation where one exists here, and every path checked by the
# access key id that signed the DynamoDB requests (ddb_proxy.py in front of
# dynalite reads it from the Authorization header's Credential=).
#
# Real: environment keys, shared files, credential_process (a real script
# that counts its runs), EC2 instance metadata (Amazon's own emulator,
# ec2-metadata-mock, tests/servers/imds). STAND-INS (tests/e2e/aws_standin.py,
# loopback, AWS's documented formats, not AWS): STS AssumeRole and
# AssumeRoleWithWebIdentity, the SSO portal's GetRoleCredentials, the ECS
# container credentials endpoint.

load common

JFS_IMDS_MOCK="$JFS_REPO/tests/.cache/bin/ec2-metadata-mock"

setup_file() {
	[[ "$JOVOFS_TEST_BACKEND" == dynamodb ]] || return 0
	jfs_setup_file
}

teardown_file() {
	[[ "$JOVOFS_TEST_BACKEND" == dynamodb ]] || return 0
	jfs_teardown_file
}

setup() {
	require_backend dynamodb
	JFS_PROXY_PID='' JFS_STANDIN_PID='' JFS_IMDS_PID=''
	jfs_setup
	# every test starts from no credentials at all; HOME is the test's own
	unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE
	export HOME="$BATS_TEST_TMPDIR/home"
	mkdir -p "$HOME/.aws"
	export AWS_CONFIG_FILE="$HOME/.aws/config" AWS_SHARED_CREDENTIALS_FILE="$HOME/.aws/credentials"
	: >"$AWS_CONFIG_FILE"
	: >"$AWS_SHARED_CREDENTIALS_FILE"
	proxy_start
}

teardown() {
	local rc=0
	jfs_teardown || rc=1
	for pid in "$JFS_PROXY_PID" "$JFS_STANDIN_PID" "$JFS_IMDS_PID"; do
		if [[ -n "$pid" ]]; then
			kill "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
		fi
	done
	return $rc
}

# --- helpers ------------------------------------------------------------

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ddb_proxy.py in front of dynalite; the config points at it.
proxy_start() {
	JFS_PROXY_MODE="$BATS_TEST_TMPDIR/proxy.mode"
	echo pass >"$JFS_PROXY_MODE"
	python3 "$JFS_E2E_DIR/ddb_proxy.py" "${JFS_DDB_ENDPOINT##*:}" "$JFS_PROXY_MODE" \
		"$BATS_TEST_TMPDIR/proxy.port" 3>&- &
	JFS_PROXY_PID=$!
	for _ in $(seq 100); do
		[[ -s "$BATS_TEST_TMPDIR/proxy.port" ]] && break
		sleep 0.05
	done
	make_config
	jq --arg e "http://127.0.0.1:$(cat "$BATS_TEST_TMPDIR/proxy.port")" \
		'.dynamodb.libraryConfig.dynamoDbClient.endpoint = $e' "$JFS_CONFIG" >"$JFS_CONFIG.new"
	mv "$JFS_CONFIG.new" "$JFS_CONFIG"
}

# Forget the requests so far.
proxy_mark() {
	: >"$JFS_PROXY_MODE.log"
}

# Every DynamoDB request since the mark was signed with access key $1 (and there was one).
assert_signed_by() {
	local keys
	keys="$(awk '{ print $3 }' "$JFS_PROXY_MODE.log" | sort -u | tr '\n' ' ')"
	if [[ "$keys" != "$1 " ]]; then
		echo "requests signed by '$keys', expected only '$1'" >&2
		cat "$JFS_PROXY_MODE.log" >&2
		return 1
	fi
}

# Read through the mount (no cache) so the daemon asks DynamoDB.
touch_backend() {
	ls "$JFS_MNT" >/dev/null
	cat "$JFS_MNT/alice/user.json" >/dev/null
}

# None of the strings appears in the log, .jovofs/, the daemon's argv or the mount table.
assert_no_secret() {
	local s f
	for s in "$@"; do
		for f in "$JFS_LOG" /proc/self/mountinfo; do
			if grep -qF -- "$s" "$f"; then
				echo "secret '$s' found in $f" >&2
				return 1
			fi
		done
		if [[ -n "${JFS_PID:-}" ]]; then
			if tr '\0' ' ' <"/proc/$JFS_PID/cmdline" | grep -qF -- "$s"; then
				echo "secret '$s' found in the daemon's argv" >&2
				return 1
			fi
			for f in config errors metrics; do
				if grep -qF -- "$s" "$JFS_MNT/.jovofs/$f"; then
					echo "secret '$s' found in .jovofs/$f" >&2
					return 1
				fi
			done
		fi
	done
}

# The loopback stand-in for STS, the SSO portal and the ECS endpoint.
standin_start() {
	JFS_STANDIN="$BATS_TEST_TMPDIR/standin"
	mkdir -p "$JFS_STANDIN"
	printf '%s\n' "${1:-{\}}" >"$JFS_STANDIN/expect.json"
	python3 "$JFS_E2E_DIR/aws_standin.py" "$JFS_STANDIN" 3>&- &
	JFS_STANDIN_PID=$!
	for _ in $(seq 100); do
		[[ -s "$JFS_STANDIN/port" ]] && break
		sleep 0.05
	done
	JFS_STANDIN_URL="http://127.0.0.1:$(cat "$JFS_STANDIN/port")"
}

# A credential_process script: prints keys AKIDPROC<n> valid $2 seconds,
# counts its runs in $1/count, fails while $1/fail exists.
make_process() {
	local dir=$1 life=$2
	mkdir -p "$dir"
	cat >"$dir/proc.sh" <<EOF
#!/bin/sh
if [ -e "$dir/fail" ]; then echo "not-a-secret-proc-failure" >&2; exit 3; fi
n=\$(( \$(cat "$dir/count" 2>/dev/null || echo 0) + 1 ))
echo \$n >"$dir/count"
exp=\$(date -u -d "@\$(( \$(date +%s) + $life ))" +%Y-%m-%dT%H:%M:%SZ)
printf '{"Version": 1, "AccessKeyId": "AKIDPROC%s", "SecretAccessKey": "proc-secret-%s", "SessionToken": "proc-session-token-%s", "Expiration": "%s"}\n' \$n \$n \$n "\$exp"
EOF
	chmod +x "$dir/proc.sh"
	printf '[profile proc]\ncredential_process = %s\nregion = us-east-1\n' "$dir/proc.sh" \
		>>"$AWS_CONFIG_FILE"
	export AWS_PROFILE=proc
}

# --- the sources, one by one ---------------------------------------------

@test "aws: environment keys sign the requests" {
	seed_json "[$(item alice)]"
	export AWS_ACCESS_KEY_ID=AKIDENVTEST AWS_SECRET_ACCESS_KEY=env-secret-value
	mount_jfs -o cache_timeout=0
	proxy_mark
	touch_backend
	assert_signed_by AKIDENVTEST
	grep -q 'credentials from env' "$JFS_LOG"
	assert_no_secret env-secret-value
}

@test "aws: credential_process keys are refreshed before they expire, once for all threads" {
	seed_json "[$(item alice), $(item bob), $(item carol), $(item dave)]"
	# valid 5 min + 3 s: due for a refresh (less than 5 min left) after 3 s
	make_process "$BATS_TEST_TMPDIR/proc" 303
	mount_jfs -o cache_timeout=0
	[ "$(cat "$BATS_TEST_TMPDIR/proc/count")" = 1 ]
	proxy_mark
	touch_backend
	assert_signed_by AKIDPROC1
	sleep 3.5
	# four readers at once: one refresh, nobody fails
	local pids=() u
	for u in alice bob carol dave; do
		cat "$JFS_MNT/$u/user.json" >/dev/null &
		pids+=($!)
	done
	for u in "${pids[@]}"; do
		wait "$u"
	done
	[ "$(cat "$BATS_TEST_TMPDIR/proc/count")" = 2 ]
	proxy_mark
	touch_backend
	assert_signed_by AKIDPROC2
	grep -q 'aws credentials refreshed from profile proc: credential_process' "$JFS_LOG"
	grep -q '^jovofs_aws_credential_refreshes_total 2$' "$JFS_MNT/.jovofs/metrics"
	grep -q '^jovofs_aws_credential_refresh_failures_total 0$' "$JFS_MNT/.jovofs/metrics"
	assert_no_secret proc-secret-1 proc-secret-2 proc-session-token-1 proc-session-token-2
}

@test "aws: a refresh that fails keeps the valid keys in use and is counted" {
	seed_json "[$(item alice)]"
	make_process "$BATS_TEST_TMPDIR/proc" 303
	mount_jfs -o cache_timeout=0
	touch "$BATS_TEST_TMPDIR/proc/fail"
	sleep 3.5
	proxy_mark
	touch_backend
	assert_signed_by AKIDPROC1
	grep -q 'the current ones stay in use' "$JFS_LOG"
	grep -q '^jovofs_aws_credential_refresh_failures_total 1$' "$JFS_MNT/.jovofs/metrics"
	awk '$1 == "jovofs_aws_credential_expiry_seconds" && $2 > 250 && $2 < 303 { f = 1 }
		END { exit !f }' "$JFS_MNT/.jovofs/metrics"
}

@test "aws: ExpiredTokenException makes one refresh and a retry" {
	seed_json "[$(item alice)]"
	make_process "$BATS_TEST_TMPDIR/proc" 3600
	mount_jfs -o cache_timeout=0
	# mark first: a request of the mount's own (the first listing still
	# streaming under ASan) may meet the refusal before the cat does, and
	# its lines must stay in the log
	proxy_mark
	echo "expired AKIDPROC1" >"$JFS_PROXY_MODE"
	cat "$JFS_MNT/alice/user.json" >/dev/null
	[ "$(cat "$BATS_TEST_TMPDIR/proc/count")" = 2 ]
	grep -q 'expired AKIDPROC1' "$JFS_PROXY_MODE.log"
	grep -q 'pass AKIDPROC2' "$JFS_PROXY_MODE.log"
	grep -q 'refused as expired' "$JFS_LOG"
}

@test "aws: a failing source stops the mount and --check, naming it, never its output" {
	make_process "$BATS_TEST_TMPDIR/proc" 3600
	touch "$BATS_TEST_TMPDIR/proc/fail"
	run "$JOVOFS_BIN" --check -o "config=$JFS_CONFIG"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"profile proc: credential_process: the command failed (exit status 3)"* ]]
	run timeout 60 "$JOVOFS_BIN" -f -o "config=$JFS_CONFIG" "$JFS_MNT"
	[ "$status" -ne 0 ]
	[[ "$output" == *"profile proc: credential_process"* ]]
	not jfs_is_mounted
}

@test "aws: EC2 instance metadata (IMDSv2, ec2-metadata-mock) gives keys and the region" {
	[[ -x "$JFS_IMDS_MOCK" ]] || bash "$JFS_REPO/tests/servers/imds/install.sh"
	seed_json "[$(item alice)]"
	local port exp
	port="$(free_port)"
	exp="$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)"
	jq -n --arg e "$exp" '{metadata: {values: {
		"iam-security-credentials-role": "jovofs-role",
		"iam-security-credentials": {Code: "Success", LastUpdated: "2026-01-01T00:00:00Z",
			Type: "AWS-HMAC", AccessKeyId: "ASIAIMDSMOCK", SecretAccessKey: "imds-secret-value",
			Token: "imds-session-token", Expiration: $e},
		"placement-region": "eu-west-3"}}}' >"$BATS_TEST_TMPDIR/imds.json"
	(cd "$BATS_TEST_TMPDIR" && exec "$JFS_IMDS_MOCK" -I -n 127.0.0.1 -p "$port" \
		-c "$BATS_TEST_TMPDIR/imds.json" >"$BATS_TEST_TMPDIR/imds.log" 2>&1 3>&-) &
	JFS_IMDS_PID=$!
	for _ in $(seq 100); do
		curl -s -o /dev/null -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' \
			"http://127.0.0.1:$port/latest/api/token" && break
		sleep 0.1
	done
	unset AWS_EC2_METADATA_DISABLED
	export AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$port"
	# no region anywhere: the instance's
	jq 'del(.dynamodb.libraryConfig.dynamoDbClient.region)' "$JFS_CONFIG" >"$JFS_CONFIG.new"
	mv "$JFS_CONFIG.new" "$JFS_CONFIG"
	run "$JOVOFS_BIN" --check -o "config=$JFS_CONFIG"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"credentials  EC2 instance metadata (IMDSv2) at http://127.0.0.1:$port"* ]]
	[[ "$output" == *"(region eu-west-3)"* ]]
	mount_jfs -o cache_timeout=0
	proxy_mark
	touch_backend
	assert_signed_by ASIAIMDSMOCK
	jq -e '.dynamodb.region == "eu-west-3" and .dynamodb.sessionToken == "(set)"' \
		"$JFS_MNT/.jovofs/config"
	assert_no_secret imds-secret-value imds-session-token
}

@test "aws: web identity from the environment: STS AssumeRoleWithWebIdentity (stand-in)" {
	seed_json "[$(item alice)]"
	standin_start '{"web_identity_token": "eyJ.standin-web-identity-token", "role_arn": "arn:aws:iam::123456789012:role/eks-app"}'
	echo 'eyJ.standin-web-identity-token' >"$BATS_TEST_TMPDIR/token"
	export AWS_WEB_IDENTITY_TOKEN_FILE="$BATS_TEST_TMPDIR/token"
	export AWS_ROLE_ARN=arn:aws:iam::123456789012:role/eks-app AWS_ROLE_SESSION_NAME=jfs-test
	export AWS_ENDPOINT_URL_STS="$JFS_STANDIN_URL"
	mount_jfs -o cache_timeout=0
	proxy_mark
	touch_backend
	assert_signed_by ASIAWEBID1
	grep -q '^AssumeRoleWithWebIdentity - ok ASIAWEBID1$' "$JFS_STANDIN/requests.log"
	assert_no_secret eyJ.standin-web-identity-token standin-secret-webid-1 standin-session-token-webid-1
}

@test "aws: profile role_arn + source_profile: STS AssumeRole signed with the source's keys (stand-in)" {
	seed_json "[$(item alice)]"
	standin_start '{"assume_role_signer": "AKIDSOURCEKEY", "role_arn": "arn:aws:iam::123456789012:role/app"}'
	printf '[src]\naws_access_key_id = AKIDSOURCEKEY\naws_secret_access_key = source-secret-value\n' \
		>"$AWS_SHARED_CREDENTIALS_FILE"
	printf '[profile app]\nrole_arn = arn:aws:iam::123456789012:role/app\nsource_profile = src\nregion = us-east-1\n' \
		>"$AWS_CONFIG_FILE"
	export AWS_PROFILE=app AWS_ENDPOINT_URL_STS="$JFS_STANDIN_URL"
	mount_jfs -o cache_timeout=0
	proxy_mark
	touch_backend
	assert_signed_by ASIAROLE1
	# STS saw a SigV4 signature by the source profile's key, for service sts
	grep -q '^AssumeRole AKIDSOURCEKEY ok ASIAROLE1$' "$JFS_STANDIN/requests.log"
	grep -q 'profile app: role arn:aws:iam::123456789012:role/app assumed with profile src' "$JFS_LOG"
	assert_no_secret source-secret-value standin-secret-role-1 standin-session-token-role-1
}

@test "aws: SSO profile: the AWS CLI's cached token, then GetRoleCredentials (stand-in portal)" {
	seed_json "[$(item alice)]"
	standin_start '{"sso_token": "sso-bearer-secret", "sso_account": "111122223333", "sso_role": "ReadOnly"}'
	printf '[profile sso]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = ReadOnly\nregion = us-east-1\n[sso-session corp]\nsso_start_url = https://example.awsapps.com/start\nsso_region = us-east-1\n' \
		>"$AWS_CONFIG_FILE"
	# the cache file is named by the SHA-1 of the session's name, as the AWS CLI does
	mkdir -p "$HOME/.aws/sso/cache"
	jq -n --arg e "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)" '{accessToken: "sso-bearer-secret",
		expiresAt: $e, region: "us-east-1", startUrl: "https://example.awsapps.com/start"}' \
		>"$HOME/.aws/sso/cache/$(printf corp | sha1sum | cut -d' ' -f1).json"
	export AWS_PROFILE=sso AWS_ENDPOINT_URL_SSO="$JFS_STANDIN_URL"
	mount_jfs -o cache_timeout=0
	proxy_mark
	touch_backend
	assert_signed_by ASIASSO1
	grep -q '^GetRoleCredentials - ok ASIASSO1$' "$JFS_STANDIN/requests.log"
	assert_no_secret sso-bearer-secret standin-secret-sso-1 standin-session-token-sso-1
}

@test "aws: container credentials (ECS/EKS FULL_URI with a token file, stand-in endpoint)" {
	seed_json "[$(item alice)]"
	standin_start '{"ecs_token": "ecs-auth-secret"}'
	echo ecs-auth-secret >"$BATS_TEST_TMPDIR/ecs-token"
	export AWS_CONTAINER_CREDENTIALS_FULL_URI="$JFS_STANDIN_URL/ecs/v2/credentials"
	export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="$BATS_TEST_TMPDIR/ecs-token"
	mount_jfs -o cache_timeout=0
	proxy_mark
	touch_backend
	assert_signed_by ASIAECS1
	grep -q '^ContainerCredentials - ok ASIAECS1$' "$JFS_STANDIN/requests.log"
	assert_no_secret ecs-auth-secret standin-secret-ecs-1 standin-session-token-ecs-1
}

# --- reload, order, metrics ------------------------------------------------

@test "aws: SIGHUP reads the chain again: rotated profile keys sign the next requests" {
	seed_json "[$(item alice)]"
	printf '[rot]\naws_access_key_id = AKIDROT1\naws_secret_access_key = rot-secret-1\nregion = us-east-1\n' \
		>"$AWS_SHARED_CREDENTIALS_FILE"
	export AWS_PROFILE=rot
	mount_jfs -o cache_timeout=0
	proxy_mark
	touch_backend
	assert_signed_by AKIDROT1
	printf '[rot]\naws_access_key_id = AKIDROT2\naws_secret_access_key = rot-secret-2\nregion = us-east-1\n' \
		>"$AWS_SHARED_CREDENTIALS_FILE"
	kill -HUP "$JFS_PID"
	for _ in $(seq 100); do
		grep -q 'aws credentials refreshed from profile rot' "$JFS_LOG" && break
		sleep 0.05
	done
	proxy_mark
	touch_backend
	assert_signed_by AKIDROT2
	jfs_daemon_alive
	assert_no_secret rot-secret-1 rot-secret-2
}

@test "aws: the chain's order: env before web identity before the profile before the container" {
	seed_json "[$(item alice)]"
	standin_start '{"web_identity_token": "tok", "ecs_token": "t"}'
	printf '[default]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = s\n' \
		>"$AWS_SHARED_CREDENTIALS_FILE"
	echo tok >"$BATS_TEST_TMPDIR/token"
	export AWS_CONTAINER_CREDENTIALS_FULL_URI="$JFS_STANDIN_URL/ecs/x" AWS_CONTAINER_AUTHORIZATION_TOKEN=t
	export AWS_WEB_IDENTITY_TOKEN_FILE="$BATS_TEST_TMPDIR/token" AWS_ROLE_ARN=arn:aws:iam::1:role/r
	export AWS_ENDPOINT_URL_STS="$JFS_STANDIN_URL"
	export AWS_ACCESS_KEY_ID=AKIDENVFIRST AWS_SECRET_ACCESS_KEY=s
	run "$JOVOFS_BIN" --check -o "config=$JFS_CONFIG"
	[[ "$output" == *"credentials  env"* ]]
	unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
	run "$JOVOFS_BIN" --check -o "config=$JFS_CONFIG"
	[[ "$output" == *"credentials  web identity token file"* ]]
	unset AWS_WEB_IDENTITY_TOKEN_FILE
	run "$JOVOFS_BIN" --check -o "config=$JFS_CONFIG"
	[[ "$output" == *"credentials  profile default from $AWS_SHARED_CREDENTIALS_FILE"* ]]
	: >"$AWS_SHARED_CREDENTIALS_FILE"
	run "$JOVOFS_BIN" --check -o "config=$JFS_CONFIG"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"credentials  container credentials at $JFS_STANDIN_URL/ecs/x"* ]]
	unset AWS_CONTAINER_CREDENTIALS_FULL_URI
	# nothing left, instance metadata off: the places looked at
	run "$JOVOFS_BIN" --check -o "config=$JFS_CONFIG"
	[ "$status" -ne 0 ]
	[[ "$output" == *"no aws credentials (instance metadata is off"* ]]
}

@test "aws: refused credentials count as backend errors by errno" {
	seed_json "[$(item alice)]"
	export AWS_ACCESS_KEY_ID=AKIDENVTEST AWS_SECRET_ACCESS_KEY=env-secret-value
	mount_jfs -o cache_timeout=0,retry_timeout=200
	echo badcreds >"$JFS_PROXY_MODE"
	not cat "$JFS_MNT/alice/user.json" 2>/dev/null
	grep -q '^jovofs_backend_errors_total{op="load",errno="EACCES"} [1-9]' "$JFS_MNT/.jovofs/metrics"
	echo pass >"$JFS_PROXY_MODE"
}
