#!/usr/bin/env bash
# Installs what the AWS credential suites need for EC2 instance metadata:
# Amazon's own IMDS emulator, ec2-metadata-mock v1.13.0, built with go into
# tests/.cache/bin/ec2-metadata-mock. Idempotent; quick when cached.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
version=v1.13.0
bin="$PWD/tests/.cache/bin/ec2-metadata-mock"
if [[ -x "$bin" ]] && "$bin" --version 2>/dev/null | grep -q "${version#v}"; then
	exit 0
fi
go=$(command -v go || true)
[[ -n "$go" ]] || go=/usr/local/go/bin/go
[[ -x "$go" ]] || {
	echo "imds: 'go' is needed to build ec2-metadata-mock $version" >&2
	exit 1
}
mkdir -p "$PWD/tests/.cache/bin"
(
	flock 9
	[[ -x "$bin" ]] && "$bin" --version 2>/dev/null | grep -q "${version#v}" && exit 0
	echo "imds: building ec2-metadata-mock $version (once)" >&2
	GOBIN="$PWD/tests/.cache/bin" "$go" install \
		"github.com/aws/amazon-ec2-metadata-mock/cmd/ec2-metadata-mock@$version"
) 9>"$PWD/tests/.cache/.imds.lock"
