# obflow's images, one multi-stage build:
#   runtime         obflow alone: coordinator worker, codec server, starter, temporal-setup
#   host            obflow + the OBServer simulator as /home/admin/oceanbase/bin/observer (default
#                   for the compose hosts)
#   host-oceanbase  obflow + a real observer taken from an OceanBase image
#                   (--build-arg OCEANBASE_IMAGE=..., see the README)
#
# It needs BuildKit (RUN --mount): Docker 23+ or buildx, or DOCKER_BUILDKIT=1 on Docker 20.10.
# There is no "# syntax=" line on purpose: the Dockerfile frontend built into BuildKit since
# Docker 20.10 knows RUN --mount, and a syntax line would make every build pull
# docker/dockerfile from a registry. Without a registry, scripts/local-images.sh builds the base
# images below from Debian's packages.

ARG GO_IMAGE=golang:1.26.8-bookworm
ARG OCEANBASE_IMAGE=oceanbase/oceanbase-ce:4.3.5-lts

FROM ${GO_IMAGE} AS build
WORKDIR /src
# The module and build caches are BuildKit cache mounts (kept by the builder across builds, never
# in an image), at fixed paths whatever GOPATH the Go image sets; ids shared with
# scripts/local-images.sh, which can seed the module cache from the machine's own.
ENV GOTOOLCHAIN=local CGO_ENABLED=0 GOMODCACHE=/go/pkg/mod GOCACHE=/root/.cache/go-build
# Dependencies first: this layer is reused until go.mod or go.sum change. The
# replacement module go.mod points at must be there for the download.
COPY go.mod go.sum ./
COPY internal/replacements/ internal/replacements/
RUN --mount=type=cache,id=obflow-gomod,target=/go/pkg/mod go mod download
COPY . .
# obflow is built with cgo so that agents decrypt the RSA auth header with the
# runtime image's libcrypto (github.com/golang-fips/openssl, loaded with dlopen;
# about 3.5x faster than crypto/rsa). It links only glibc, the same in both
# bookworm images; without libcrypto it falls back to crypto/rsa.
RUN --mount=type=cache,id=obflow-gomod,target=/go/pkg/mod \
    --mount=type=cache,id=obflow-gocache,target=/root/.cache/go-build \
    CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/obflow ./cmd/obflow && \
    go build -trimpath -ldflags="-s -w" -o /out/observer ./cmd/observer-sim

FROM ${OCEANBASE_IMAGE} AS oceanbase

FROM debian:bookworm-slim AS runtime
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 tzdata && \
    rm -rf /var/lib/apt/lists/* && \
    useradd --create-home --home-dir /home/admin --uid 1000 admin && \
    mkdir -p /var/lib/obflow/keys && chown -R admin:admin /var/lib/obflow
COPY --from=build /out/obflow /usr/local/bin/obflow
USER admin
ENTRYPOINT ["obflow"]
CMD ["--help"]

FROM runtime AS host
USER root
RUN mkdir -p /home/admin/oceanbase/bin /home/admin/oceanbase/store && chown -R admin:admin /home/admin/oceanbase
COPY --from=build --chown=admin:admin /out/observer /home/admin/oceanbase/bin/observer
USER admin
# 2886 agent API, 2881 MySQL, 2882 RPC
EXPOSE 2886 2881 2882

FROM runtime AS host-oceanbase
USER root
# The observer and the libraries it loads from <home>/lib (the layout of OceanBase's packages).
ARG OCEANBASE_HOME=/home/admin/oceanbase
RUN mkdir -p /home/admin/oceanbase/store && apt-get update && \
    apt-get install -y --no-install-recommends libaio1 && rm -rf /var/lib/apt/lists/*
COPY --from=oceanbase --chown=admin:admin ${OCEANBASE_HOME}/bin/observer /home/admin/oceanbase/bin/observer
COPY --from=oceanbase --chown=admin:admin ${OCEANBASE_HOME}/lib /home/admin/oceanbase/lib
RUN chown -R admin:admin /home/admin/oceanbase
USER admin
EXPOSE 2886 2881 2882
