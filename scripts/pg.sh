#!/usr/bin/env bash
# A private PostgreSQL 15 cluster for troupe's cluster suites, on a free loopback port.
#
#   scripts/pg.sh [start]   install PostgreSQL 15 from Debian if missing (apt-get), create the
#                           private cluster (pg_createcluster 15 $TROUPE_PG_CLUSTER, default
#                           "troupe-test") on a free 127.0.0.1 port, start it, print its URL
#   scripts/pg.sh url       print the URL of the running private cluster
#   scripts/pg.sh restart   restart the private cluster (fast shutdown: sessions cut), print its URL
#   scripts/pg.sh stop      stop and drop the private cluster (its data directory included)
#
# TROUPE_PG_LISTEN=<IPv4 addr> (e.g. 10.251.7.1, set when the cluster is created): also listen on
# <addr> (which must exist, e.g. the host end of a test bridge), trust connections from its /24,
# and print URLs on <addr>. The namespace failover suite uses it.
#
# Use:  export TROUPE_PG_URL=$(scripts/pg.sh)   …   scripts/pg.sh stop
#
# Only the cluster named $TROUPE_PG_CLUSTER is ever created, started, stopped or dropped: a system
# cluster (e.g. 15/main) is never touched. Listens on 127.0.0.1 only, trust authentication for
# loopback (a throw-away test cluster). Needs root (pg_createcluster, apt-get).
set -euo pipefail

VERSION=15
NAME="${TROUPE_PG_CLUSTER:-troupe-test}"
DB=troupe

case "$NAME" in
  main | "") echo "pg.sh: refusing to manage cluster '$NAME' (a system cluster)" >&2; exit 2 ;;
esac
if [ "$(id -u)" != 0 ]; then echo "pg.sh: needs root (pg_createcluster/apt-get)" >&2; exit 2; fi

exists() { pg_lsclusters -h 2>/dev/null | awk -v v="$VERSION" -v n="$NAME" '$1==v && $2==n {f=1} END {exit !f}'; }
port_of() { pg_lsclusters -h | awk -v v="$VERSION" -v n="$NAME" '$1==v && $2==n {print $3}'; }
LISTEN="${TROUPE_PG_LISTEN:-}"
HOST=127.0.0.1
if [ -n "$LISTEN" ]; then HOST="$LISTEN"; fi
url() { echo "postgres://postgres@$HOST:$(port_of)/$DB"; }

free_port() {
  local used p
  used="$( (ss -Htan 2>/dev/null | awk '{print $4}' | sed 's/.*://'; pg_lsclusters -h 2>/dev/null | awk '{print $3}') | sort -u)"
  for p in $(seq 15432 15531); do
    if ! grep -qx "$p" <<<"$used"; then echo "$p"; return; fi
  done
  echo "pg.sh: no free port in 15432-15531" >&2; exit 1
}

install() {
  if [ -x "/usr/lib/postgresql/$VERSION/bin/postgres" ] && command -v pg_createcluster >/dev/null; then return; fi
  echo "pg.sh: installing PostgreSQL $VERSION from Debian (apt-get)…" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1 || {
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  }
  # the package's default cluster is not ours: leave it as the package made it
}

start() {
  install
  if ! exists; then
    local port
    port="$(free_port)"
    pg_createcluster "$VERSION" "$NAME" -p "$port" -- --auth-local=trust --auth-host=trust >/dev/null
    # Debian's postgresql.conf reads conf.d/ last
    # TCP keepalives and tcp_user_timeout: a client cut off by a partition (no FIN, no RST) is
    # dropped in ~3 s, so its session-level advisory shard locks are freed for the survivors
    local listen="127.0.0.1"
    if [ -n "$LISTEN" ]; then
      listen="127.0.0.1,$HOST"
      echo "host all all ${HOST%.*}.0/24 trust" >>"/etc/postgresql/$VERSION/$NAME/pg_hba.conf"
    fi
    printf "%s\n" "listen_addresses = '$listen'" "max_connections = 200" "fsync = off" \
      "tcp_keepalives_idle = 1" "tcp_keepalives_interval = 1" "tcp_keepalives_count = 2" "tcp_user_timeout = 3000" \
      >"/etc/postgresql/$VERSION/$NAME/conf.d/troupe.conf"
  fi
  if ! pg_lsclusters -h | awk -v v="$VERSION" -v n="$NAME" '$1==v && $2==n && $4=="online" {f=1} END {exit !f}'; then
    pg_ctlcluster "$VERSION" "$NAME" start
  fi
  local port
  port="$(port_of)"
  for _ in $(seq 1 100); do
    if runuser -u postgres -- psql -h 127.0.0.1 -p "$port" -d postgres -Atqc "select 1" >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  if ! runuser -u postgres -- psql -h 127.0.0.1 -p "$port" -d postgres -Atqc "select 1 from pg_database where datname='$DB'" | grep -q 1; then
    runuser -u postgres -- psql -h 127.0.0.1 -p "$port" -d postgres -qc "create database $DB" >/dev/null
  fi
  url
}

restart() {
  exists || { echo "pg.sh: no cluster $NAME" >&2; exit 1; }
  pg_ctlcluster "$VERSION" "$NAME" restart -m fast
  local port
  port="$(port_of)"
  for _ in $(seq 1 100); do
    if runuser -u postgres -- psql -h 127.0.0.1 -p "$port" -d postgres -Atqc "select 1" >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  url
}

stop() {
  if exists; then pg_dropcluster --stop "$VERSION" "$NAME"; fi
}

case "${1:-start}" in
  start) start ;;
  url) exists && url ;;
  restart) restart ;;
  stop) stop ;;
  *) echo "usage: scripts/pg.sh [start|url|restart|stop]" >&2; exit 2 ;;
esac
