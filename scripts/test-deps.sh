#!/usr/bin/env bash
# Installs what gatehouse's tests need on a Debian/Ubuntu machine: PostgreSQL
# 15 (initdb, pg_ctl, psql, pgbench) and the OpenSSH client. Everything else
# (the test identity provider) is built from the Go module proxy by the tests.
set -euo pipefail

need=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql)
command -v psql >/dev/null || need+=(postgresql-client)
command -v ssh >/dev/null && command -v ssh-keygen >/dev/null || need+=(openssh-client)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "test-deps: installing ${need[*]}" >&2
if ! command -v apt-get >/dev/null; then
  echo "test-deps: cannot install ${need[*]}: no apt-get here; install PostgreSQL 15 and the OpenSSH client by hand" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
