#!/usr/bin/env bash
# Installs the temporal CLI v1.5.1 into $(go env GOPATH)/bin for the README check (cmd/obflow
# TestResetAndTemporalCLI runs every `temporal` command README.md shows). Idempotent and quiet
# when that version is already there; .ci/run calls it and puts $(go env GOPATH)/bin first on
# PATH. Without it the test skips with a message.
set -euo pipefail
export GOTOOLCHAIN=local
version=v1.5.1
bin="$(go env GOPATH)/bin/temporal"
if [ -x "$bin" ] && go version -m "$bin" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/temporalio/cli[[:space:]]+${version}[[:space:]]"; then
  exit 0
fi
start=$(date +%s)
go install "github.com/temporalio/cli/cmd/temporal@${version}"
echo "install-temporal-cli: temporal ${version} built in $(( $(date +%s) - start ))s: ${bin}"
