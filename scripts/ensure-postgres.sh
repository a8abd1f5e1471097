#!/usr/bin/env bash
# Make sure the PostgreSQL the tests use answers on 127.0.0.1:5432. Start a stopped Debian cluster, install
# Debian's postgresql where none exists, or stop with a clear message: tests never skip a missing server.
set -euo pipefail
url=${KARTOTEKA_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
ready() { command -v pg_isready >/dev/null && pg_isready -q -d "$url"; }
ready && exit 0
if ! command -v pg_ctlcluster >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "PostgreSQL is not installed and installing it needs root: apt-get install postgresql" >&2; exit 1
  fi
  echo "installing Debian's postgresql…"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
ver=$(ls /etc/postgresql | sort -V | tail -1)
if [ -z "$ver" ]; then echo "no PostgreSQL cluster under /etc/postgresql" >&2; exit 1; fi
# Tests connect as postgres over TCP without a password, as on the developers' machines.
hba=/etc/postgresql/$ver/main/pg_hba.conf
if ! grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
  sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
fi
pg_ctlcluster --skip-systemctl-redirect "$ver" main start || pg_ctlcluster --skip-systemctl-redirect "$ver" main reload
for _ in $(seq 30); do ready && exit 0; sleep 1; done
echo "PostgreSQL did not answer at $url after starting; see /var/log/postgresql/" >&2
exit 1
