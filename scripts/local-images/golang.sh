#!/usr/bin/env bash
# Run by scripts/local-images.sh inside a container of the debian:bookworm-slim stand-in, with
# the machine's Go tree mounted at /mnt/go; the container is then committed as the
# golang:<version>-bookworm stand-in. The packages are the C toolchain cgo needs and the
# tools the official golang image has for fetching modules.
set -euxo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends \
  ca-certificates curl git netbase openssh-client procps gcc libc6-dev make pkg-config
rm -rf /var/lib/apt/lists/*
cp -a /mnt/go /usr/local/go
mkdir -p /go/src /go/bin
chmod -R 1777 /go
/usr/local/go/bin/go version
