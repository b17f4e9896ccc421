#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL server on loopback and DATABASE_URL set.
# Uses Debian's postgresql binaries; as root the server runs as the `postgres` user.
# If no server can be started: with CI set, fail; otherwise warn and run without it.
set -uo pipefail

# A free loopback port unless ONETRIP_PG_PORT says otherwise (a stale server keeps its port).
PGPORT="${ONETRIP_PG_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 54329)}"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
DB=onetrip_test


if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
  if [ -n "${CI:-}" ]; then echo "with_postgres: no postgresql binaries and CI is set" >&2; exit 1; fi
  echo "WARNING: PostgreSQL not installed: booking tests run on SQLite only." >&2
  exec "$@"
fi

DIR="$(mktemp -d /tmp/onetrip-pg.XXXXXX)"
chmod 755 "$DIR"
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$DIR"; fi

cleanup() {
  as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT

started=0
if as_pg "$PGBIN/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 \
  && as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 30 \
       -o "-k $DIR -p $PGPORT -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null 2>&1 \
  && as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres "$DB" >/dev/null 2>&1; then
  started=1
fi

if [ "$started" = 1 ]; then
  export DATABASE_URL="postgresql://postgres@127.0.0.1:$PGPORT/$DB"
  echo "with_postgres: PostgreSQL on 127.0.0.1:$PGPORT for this run" >&2
  "$@"
  exit $?
fi

tail -n 5 "$DIR"/*.log >&2 2>/dev/null || true
if [ -n "${CI:-}" ]; then echo "with_postgres: PostgreSQL did not start and CI is set" >&2; exit 1; fi
echo "WARNING: PostgreSQL did not start: booking tests run on SQLite only." >&2
"$@"
