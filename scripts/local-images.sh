#!/usr/bin/env bash
# Builds stand-ins for the base images the Dockerfile and docker-compose.yml name, from Debian's
# packages, on a machine with Docker but no image registry (nothing can be pulled):
#
#   debian:bookworm-slim     a Debian bookworm root (debootstrap --variant=minbase), docker import
#   golang:<ver>-bookworm    that root + gcc/libc6-dev/git + this machine's Go toolchain
#                            (scripts/local-images/golang.sh)
#   postgres:<tag>           that root + Debian's PostgreSQL, with an entry point that reads the
#                            official image's variables (scripts/local-images/postgres.sh,
#                            postgres-entrypoint.sh)
#
# The names are read from the Dockerfile and docker-compose.yml, so they stay the ones those
# files use. An image that is already there (pulled, or built by an earlier run) is left alone,
# so the script is quick and harmless to run again, and on a machine with a registry it is not
# needed at all. The debootstrapped root is kept as a tarball in $OBFLOW_IMAGES_CACHE (default
# ~/.cache/obflow-images) so that building the images again does not download it again.
# Last, it fills the Dockerfile's Go module cache mount from this machine's module cache, so the
# project's image builds without reaching the Go module proxy from a container.
#
# Usage: scripts/local-images.sh [--rebuild]   (--rebuild replaces the stand-ins it finds)
# Environment: DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR (default: the ones apt uses here, else
# deb.debian.org), OBFLOW_IMAGES_CACHE.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
here=$repo/scripts/local-images
cache=${OBFLOW_IMAGES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/obflow-images}
suite=bookworm
# Debian bookworm's PostgreSQL.
pg_major=15
# Marks the images this script made, so --rebuild never replaces a pulled image.
label=org.obflow.local-image

rebuild=false
case "${1:-}" in
  "") ;;
  --rebuild) rebuild=true ;;
  *) echo "usage: $0 [--rebuild]" >&2; exit 2 ;;
esac

say() { printf 'local-images: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
elapsed() { echo "$(($(date +%s) - $1))s"; }

go_image=$(sed -n 's/^ARG GO_IMAGE=//p' "$repo/Dockerfile" | head -n1)
slim_image=$(awk '$1 == "FROM" && $2 ~ /^debian:/ { print $2; exit }' "$repo/Dockerfile")
pg_image=$(awk '$1 == "image:" && $2 ~ /^postgres:/ { print $2; exit }' "$repo/docker-compose.yml")
[ -n "$go_image" ] || die "no 'ARG GO_IMAGE=' in the Dockerfile"
[ -n "$slim_image" ] || die "no 'FROM debian:...' in the Dockerfile"
[ -n "$pg_image" ] || die "no 'image: postgres:...' in docker-compose.yml"
[ "$slim_image" = "debian:$suite-slim" ] || die "the Dockerfile's $slim_image is not debian:$suite-slim"
case "$go_image" in
  golang:*-"$suite") ;;
  *) die "the Dockerfile's Go image $go_image is not golang:<version>-$suite" ;;
esac

command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "the Docker daemon does not answer (docker info)"

# present IMAGE: the image is there and is to be kept.
present() {
  docker image inspect "$1" >/dev/null 2>&1 || return 1
  if $rebuild && [ -n "$(docker image inspect -f "{{ index .Config.Labels \"$label\" }}" "$1")" ]; then
    return 1
  fi
  return 0
}

# mirror NAME DEFAULT: the URL apt uses here for the archive NAME (debian or debian-security).
mirror() {
  local url
  url=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -oE "https?://[^ ]+/$1/?( |$)" | head -n1 | tr -d ' ' || true)
  echo "${url%/}"
}

# The Debian root as a tarball, made once with debootstrap and then kept.
root_tarball() {
  local arch tar
  arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
  tar=$cache/debian-$suite-minbase-$arch.tar
  if [ -s "$tar" ]; then
    say "using the cached Debian root $tar"
    echo "$tar"
    return
  fi
  [ "$(id -u)" = 0 ] || die "debootstrap needs root; run this as root once to make $tar"
  if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap (apt-get)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  local main security
  main=${DEBIAN_MIRROR:-$(mirror debian)}
  main=${main:-http://deb.debian.org/debian}
  security=${DEBIAN_SECURITY_MIRROR:-$(mirror debian-security)}
  security=${security:-http://deb.debian.org/debian-security}
  mkdir -p "$cache"
  local dir
  dir=$(mktemp -d "$cache/root.XXXXXX")
  trap 'rm -rf "$dir"' EXIT
  local t0
  t0=$(date +%s)
  say "debootstrap --variant=minbase $suite from $main (a few minutes; log in $cache/debootstrap.log)"
  if ! debootstrap --variant=minbase "$suite" "$dir" "$main" >"$cache/debootstrap.log" 2>&1; then
    tail -n 20 "$cache/debootstrap.log" >&2
    die "debootstrap failed (log: $cache/debootstrap.log)"
  fi
  # As in the official debian image: apt sources for the release, its updates and security, no
  # package or list caches kept, no translations, and slim's dpkg path excludes (docs, man pages).
  rm -f "$dir/etc/apt/sources.list"
  cat >"$dir/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $main
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  cat >"$dir/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$dir/etc/apt/apt.conf.d/docker-no-languages"
  echo 'APT::AutoRemove::SuggestsImportant "false";' >"$dir/etc/apt/apt.conf.d/docker-autoremove-suggests"
  cat >"$dir/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
  find "$dir/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$dir/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$dir"/usr/share/{man,groff,info,lintian,linda}/* "$dir"/var/cache/apt/archives/*.deb \
    "$dir"/var/cache/apt/*.bin "$dir"/var/lib/apt/lists/* "$dir"/var/log/* "$dir"/tmp/*
  : >"$dir/etc/hostname"
  tar --numeric-owner -C "$dir" -cf "$tar.tmp" .
  mv "$tar.tmp" "$tar"
  rm -rf "$dir"
  trap - EXIT
  say "made $tar ($(du -h "$tar" | cut -f1)) in $(elapsed "$t0")"
  echo "$tar"
}

# make_image NAME TAG [docker run options...] -- [docker commit --change instructions...]:
# runs scripts/local-images/NAME.sh in a container of the slim root and commits the container as
# TAG. One container and one commit rather than a Dockerfile: on fuse-overlayfs every build step,
# even ENV, costs a full walk of the image's files (14 min for the Go image under load).
make_image() {
  local name=$1 tag=$2
  shift 2
  local run=() change=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do run+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  for c in "$@" "LABEL $label=$name"; do change+=(--change "$c"); done
  local c=obflow-local-images-$name-$$ log=$cache/$name.log
  mkdir -p "$cache"
  # shellcheck disable=SC2064 # $c is local: expanded now, on purpose.
  trap "docker rm -f '$c' >/dev/null 2>&1 || true" EXIT
  if ! docker run --name "$c" "${run[@]}" -v "$here:/setup:ro" "$slim_image" \
    bash "/setup/$name.sh" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "building $tag failed (log: $log)"
  fi
  docker commit "${change[@]}" "$c" "$tag" >/dev/null
  docker rm "$c" >/dev/null
  trap - EXIT
}

built=()

if present "$slim_image"; then
  say "$slim_image is present"
else
  tar=$(root_tarball)
  t0=$(date +%s)
  docker import --change 'CMD ["bash"]' --change "LABEL $label=debootstrap" "$tar" "$slim_image" >/dev/null
  say "imported $slim_image in $(elapsed "$t0")"
  built+=("$slim_image")
fi

if present "$go_image"; then
  say "$go_image is present"
else
  want=${go_image#golang:}
  want=go${want%-"$suite"}
  have=$(go env GOVERSION 2>/dev/null || true)
  [ -n "$have" ] || die "no go command here to put into $go_image"
  [ "$have" = "$want" ] || die "$go_image wants $want but this machine's Go is $have"
  goroot=$(go env GOROOT)
  t0=$(date +%s)
  say "building $go_image: $slim_image + gcc, git + $goroot ($have); log in $cache/golang.log"
  # The environment of the official golang image.
  make_image golang "$go_image" -v "$goroot:/mnt/go:ro" -- \
    "ENV GOLANG_VERSION=${have#go}" "ENV GOTOOLCHAIN=local" "ENV GOPATH=/go" \
    "ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    "WORKDIR /go" 'CMD ["bash"]'
  say "built $go_image in $(elapsed "$t0")"
  built+=("$go_image")
fi

if present "$pg_image"; then
  say "$pg_image is present"
else
  case "${pg_image#postgres:}" in
    "$pg_major" | "$pg_major".* | "$pg_major"-*) ;;
    *) say "note: Debian $suite has PostgreSQL $pg_major; $pg_image will run PostgreSQL $pg_major" ;;
  esac
  t0=$(date +%s)
  say "building $pg_image: $slim_image + Debian's postgresql-$pg_major; log in $cache/postgres.log"
  # The configuration of the official postgres image. Its STOPSIGNAL SIGINT (docker stop is a
  # fast shutdown) comes from the container's --stop-signal: commit takes no STOPSIGNAL change.
  make_image postgres "$pg_image" -e "PG_MAJOR=$pg_major" --stop-signal SIGINT -- \
    "ENV PG_MAJOR=$pg_major" "ENV LANG=C.UTF-8" "ENV PGDATA=/var/lib/postgresql/data" \
    "ENV PATH=/usr/lib/postgresql/$pg_major/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    "VOLUME /var/lib/postgresql/data" "EXPOSE 5432" "WORKDIR /" \
    'ENTRYPOINT ["docker-entrypoint.sh"]' 'CMD ["postgres"]'
  say "built $pg_image in $(elapsed "$t0")"
  built+=("$pg_image")
fi

if [ ${#built[@]} -eq 0 ]; then
  say "$slim_image, $go_image and $pg_image are present"
else
  say "built ${built[*]}"
fi

# buildkit ARGS...: docker build through BuildKit (buildx, or a docker older than 23 with
# DOCKER_BUILDKIT=1); returns 3 when there is neither.
buildkit() {
  if docker buildx version >/dev/null 2>&1; then
    docker buildx build "$@"
  elif [ "$(docker version -f '{{.Client.Version}}' 2>/dev/null | cut -d. -f1)" -lt 23 ] 2>/dev/null; then
    DOCKER_BUILDKIT=1 docker build "$@"
  else
    return 3
  fi
}

# The Dockerfile's build stage keeps modules in the BuildKit cache mount "obflow-gomod". Its
# containers cannot fetch them here (HTTPS from a container does not get through to the Go
# module proxy), so the mount is filled from this machine's module cache: the files go.sum
# names, from $(go env GOMODCACHE)/cache/download. Done again when go.mod or go.sum change.
seed_go_modules() {
  command -v go >/dev/null || { say "no go here: the Go module cache mount is not seeded"; return; }
  local key marker
  key=$(cat "$repo/go.mod" "$repo/go.sum" | sha256sum | cut -c1-16)
  marker=$cache/gomod-seeded-$key
  if [ -e "$marker" ] &&
    docker system df -v --format '{{json .BuildCache}}' 2>/dev/null | grep -q 'cached mount /go/pkg/mod from'; then
    say "the Go module cache mount is seeded for this go.sum"
    return
  fi
  local t0 download ctx n=0
  t0=$(date +%s)
  say "seeding the Go module cache mount (obflow-gomod) from this machine's module cache"
  (cd "$repo" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download) ||
    die "go mod download failed on this machine"
  download=$(GOTOOLCHAIN=local go env GOMODCACHE)/cache/download
  ctx=$cache/gomod-seed
  rm -rf "$ctx"
  mkdir -p "$ctx/download"
  # Module paths and versions are case-encoded in the cache (an upper-case letter is ! and its
  # lower case), as go.sum does not write them.
  local path version want f files=()
  while read -r path version _; do
    if [ "${version%/go.mod}" != "$version" ]; then
      version=${version%/go.mod}
      want=(mod info)
    else
      want=(zip ziphash mod info)
    fi
    for f in "${want[@]}"; do
      f=$path/@v/$version.$f
      [ -e "$download/$f" ] && files+=("$f")
    done
  done < <(sed -E 's/[A-Z]/!\L&/g' "$repo/go.sum")
  n=${#files[@]}
  # Hard links where the cache is on the same file system, copies elsewhere.
  (cd "$download" && printf '%s\0' "${files[@]}" | xargs -0 cp --parents -l -t "$ctx/download" 2>/dev/null) ||
    (cd "$download" && printf '%s\0' "${files[@]}" | xargs -0 cp --parents -f -t "$ctx/download")
  local rc=0
  buildkit --output "type=tar,dest=/dev/null" -f - "$ctx" >"$cache/gomod-seed.log" 2>&1 <<EOF || rc=$?
FROM $slim_image AS seed
RUN --mount=type=cache,id=obflow-gomod,target=/go/pkg/mod --mount=type=bind,target=/seed \\
    mkdir -p /go/pkg/mod/cache/download /out && \\
    cp -R -n /seed/download/. /go/pkg/mod/cache/download/ && \\
    du -sh /go/pkg/mod/cache/download >/out/seeded
FROM scratch
COPY --from=seed /out/seeded /
EOF
  rm -rf "$ctx"
  if [ "$rc" = 3 ]; then
    say "no BuildKit client (docker buildx): the Go module cache mount is not seeded;" \
      "run scripts/install-compose.sh, then this script again"
    return
  elif [ "$rc" != 0 ]; then
    tail -n 20 "$cache/gomod-seed.log" >&2
    die "seeding the Go module cache mount failed (log: $cache/gomod-seed.log)"
  fi
  rm -f "$cache"/gomod-seeded-*
  : >"$marker"
  say "seeded $n module files in $(elapsed "$t0")"
}

seed_go_modules
