#!/usr/bin/env bash
# Installs Debian's PostgreSQL server binaries for the postgres tests (internal/pgtest starts a
# throwaway server from them; it never uses the package's own cluster). Idempotent and quiet when
# initdb is already there; .ci/run calls it before the tests. Without root or apt the tests skip
# with a message instead.
set -euo pipefail
if command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-postgresql: not root or no apt-get; the postgres tests will be skipped" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq postgresql >/dev/null
ls -d /usr/lib/postgresql/*/bin
