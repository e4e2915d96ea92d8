#!/usr/bin/env bash
# Check that PostgreSQL and Redis answer on localhost; start a stopped one where it is
# installed; otherwise fail with a clear message. Used by `make test`.
set -u

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || \
  python3 -c 'import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(s.connect_ex(("127.0.0.1",5432)))'; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG || \
  python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",6379),1); s.sendall(b"PING\r\n"); sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)' 2>/dev/null; }

wait_for() { for _ in $(seq 1 30); do "$1" && return 0; sleep 1; done; return 1; }

if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "PostgreSQL is not answering on 127.0.0.1:5432; starting it."
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  wait_for pg_up || { echo "ERROR: PostgreSQL does not answer on 127.0.0.1:5432 and could not be started. Install PostgreSQL 15 (user postgres, trust auth on localhost) or set DATABASE_URL." >&2; exit 1; }
fi
echo "PostgreSQL answers on 127.0.0.1:5432."
# The suite's database (pytest creates test_<name> beside it; makemigrations --check reads it).
db="${TEST_DB_NAME:-pse_crm}"
if command -v psql >/dev/null 2>&1 && \
   [ "$(psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" 2>/dev/null)" != "1" ]; then
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE \"$db\"" >/dev/null && echo "Created database $db."
fi

if ! redis_up; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "Redis is not answering on 127.0.0.1:6379; starting it."
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  fi
  wait_for redis_up || { echo "ERROR: Redis does not answer on 127.0.0.1:6379 and could not be started. Install redis-server or set CELERY_BROKER_URL." >&2; exit 1; }
fi
echo "Redis answers on 127.0.0.1:6379."
