#!/usr/bin/env bash
# Entry point of the PostgreSQL stand-in image (scripts/local-images.sh). It reads the official
# postgres image's variables: on the first start it creates the cluster in $PGDATA with
# superuser $POSTGRES_USER (default postgres) and password $POSTGRES_PASSWORD, creates
# $POSTGRES_DB (default $POSTGRES_USER), runs /docker-entrypoint-initdb.d/*.sh|*.sql, and lets
# every address in with $POSTGRES_HOST_AUTH_METHOD (default scram-sha-256). Then it becomes the
# postgres server, as the postgres user, so that signals from docker stop/kill reach it.
set -Eeuo pipefail

if [ "${1:0:1}" = '-' ]; then
  set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
  exec "$@"
fi

export PGDATA=${PGDATA:-/var/lib/postgresql/data}
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
  chown postgres:postgres /var/run/postgresql
  chmod 3777 /var/run/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  user=${POSTGRES_USER:-postgres}
  db=${POSTGRES_DB:-$user}
  # Init scripts see the defaults too, as in the official image.
  export POSTGRES_USER=$user POSTGRES_DB=$db
  auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
    echo "postgres: the database is uninitialized and POSTGRES_PASSWORD is not set" \
      "(set it, or POSTGRES_HOST_AUTH_METHOD=trust to allow every connection without one)" >&2
    exit 1
  fi
  initdb_args=(--username="$user")
  if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
    initdb_args+=(--waldir="$POSTGRES_INITDB_WALDIR")
  fi
  # POSTGRES_INITDB_ARGS is a shell word list, as in the official image. The password goes
  # through a pipe, never a file or the command line.
  if [ -n "${POSTGRES_PASSWORD:-}" ]; then
    eval 'initdb "${initdb_args[@]}" --pwfile=<(printf "%s\n" "$POSTGRES_PASSWORD") '"${POSTGRES_INITDB_ARGS:-}"
  else
    eval 'initdb "${initdb_args[@]}" '"${POSTGRES_INITDB_ARGS:-}"
  fi
  printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"

  # A server on a private socket only while the database and the init scripts are made, so that
  # neither clients nor a pg_isready health check see it as the ready server.
  initsock=$(mktemp -d)
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories='$initsock'" -w start
  # Init scripts that run psql themselves reach it through PGHOST.
  export PGHOST=$initsock
  psql=(psql -v ON_ERROR_STOP=1 --username "$user" --no-password --no-psqlrc --dbname postgres)
  if [ "$db" != postgres ] &&
    [ -z "$("${psql[@]}" -tA --set db="$db" <<<"SELECT 1 FROM pg_database WHERE datname = :'db'")" ]; then
    "${psql[@]}" --set db="$db" <<<'CREATE DATABASE :"db";'
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh)
        echo "postgres: running $f"
        # shellcheck source=/dev/null
        . "$f"
        ;;
      *.sql) echo "postgres: running $f"; "${psql[@]}" --dbname "$db" -f "$f" ;;
      *.sql.gz) echo "postgres: running $f"; gunzip -c "$f" | "${psql[@]}" --dbname "$db" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
  unset PGHOST
  rmdir "$initsock"
  echo "postgres: cluster initialized in $PGDATA"
fi

exec "$@"
