#!/usr/bin/env bash
# Installs Debian's chromium for the browser check (cmd/obflow TestWebUIBrowser). Idempotent and
# quiet when it is already there; .ci/run calls it before the tests. Without root or apt the test
# skips with a message instead.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: not root or no apt-get; the browser test will be skipped" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
chromium --version
