#!/usr/bin/env bash
# Installs Docker Compose v2 and buildx as Docker CLI plugins (~/.docker/cli-plugins), built from
# their Go modules, for machines whose Debian packages have only docker-compose v1 (no
# `docker compose`, no `up --wait`) and whose docker has no BuildKit client of its own. buildx
# makes `docker build` use BuildKit, which the Dockerfile needs (RUN --mount).
#
# Idempotent: a plugin that already reports the wanted version is left alone. Building both
# takes a few minutes of CPU the first time (Go module proxy only; nothing else is downloaded).
#
# Usage: scripts/install-compose.sh
# Environment: COMPOSE_VERSION, BUILDX_VERSION (the versions below), DOCKER_CONFIG.
set -euo pipefail
export GOTOOLCHAIN=local

# Compose v2.40.3 pins buildx v0.29.1, so the two share their dependencies' versions.
compose_version=${COMPOSE_VERSION:-v2.40.3}
buildx_version=${BUILDX_VERSION:-v0.29.1}
plugins=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins

say() { printf 'install-compose: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

command -v go >/dev/null || die "go is not installed"
command -v docker >/dev/null || die "docker is not installed"

# install NAME MODULE VERSION PACKAGE LDFLAGS: builds PACKAGE of MODULE@VERSION as the plugin
# docker-NAME. `go install MODULE/PACKAGE@VERSION` refuses these modules (their go.mod has
# exclude directives), so the module is built as the main module from a copy of its source.
install() {
  local name=$1 module=$2 version=$3 pkg=$4 ldflags=$5
  local bin=$plugins/docker-$name
  if [ -x "$bin" ] && "$bin" docker-cli-plugin-metadata 2>/dev/null | grep -q "\"Version\": *\"${version#v}\"\|\"Version\": *\"$version\""; then
    say "docker $name $version is installed ($bin)"
    return
  fi
  local t0 dir src
  t0=$(date +%s)
  say "building docker $name $version from $module (a few minutes the first time)"
  src=$(go mod download -json "$module@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  if [ -z "$src" ] || [ ! -d "$src" ]; then
    die "go mod download $module@$version gave no source directory"
  fi
  dir=$(mktemp -d)
  cp -r "$src/." "$dir"
  chmod -R u+w "$dir"
  mkdir -p "$plugins"
  if ! (cd "$dir" && go build -trimpath -ldflags="-s -w $ldflags" -o "$bin.tmp" "$pkg"); then
    rm -rf "$dir"
    die "building docker $name failed"
  fi
  rm -rf "$dir"
  mv "$bin.tmp" "$bin"
  say "installed docker $name $version as $bin in $(($(date +%s) - t0))s"
}

install compose github.com/docker/compose/v2 "$compose_version" ./cmd \
  "-X github.com/docker/compose/v2/internal.Version=$compose_version"
install buildx github.com/docker/buildx "$buildx_version" ./cmd/buildx \
  "-X github.com/docker/buildx/version.Version=$buildx_version -X github.com/docker/buildx/version.Package=github.com/docker/buildx"

docker compose version
docker buildx version
