#!/usr/bin/env bash
# Run by scripts/local-images.sh inside a container of the debian:bookworm-slim stand-in, with
# this folder mounted at /setup and PG_MAJOR set; the container is then committed as the
# PostgreSQL stand-in, whose entry point is postgres-entrypoint.sh.
set -euxo pipefail
export DEBIAN_FRONTEND=noninteractive
# Debian's package would create a cluster of its own; the entry point makes the one in $PGDATA.
mkdir -p /etc/postgresql-common
echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf
apt-get update
apt-get install -y --no-install-recommends "postgresql-$PG_MAJOR"
rm -rf /var/lib/apt/lists/*
# initdb copies this sample: every address, as the official image (pg_hba.conf still decides).
sed -ri "s!^#?(listen_addresses)\s*=\s*\S+.*!\1 = '*'!" "/usr/share/postgresql/$PG_MAJOR/postgresql.conf.sample"
mkdir -p /var/run/postgresql /var/lib/postgresql/data /docker-entrypoint-initdb.d
chown -R postgres:postgres /var/run/postgresql /var/lib/postgresql
chmod 3777 /var/run/postgresql
chmod 1777 /var/lib/postgresql/data
install -m 0755 /setup/postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
"/usr/lib/postgresql/$PG_MAJOR/bin/pg_isready" --version
