#!/usr/bin/env bash
# Installs what gatehouse's tests need on a Debian/Ubuntu machine: PostgreSQL
# 15 (initdb, pg_ctl, psql, pgbench), the OpenSSH client, Chromium (the
# console's browser tests drive it headless) and HAProxy (the replica tests
# balance two servers with it), and builds the
# MinIO server the S3 tests start. The test identity provider is built from
# the Go module proxy by the tests themselves (about 15 s).
set -euo pipefail
cd "$(dirname "$0")/.."

install_packages() {
  local need=()
  [ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql)
  command -v psql >/dev/null || need+=(postgresql-client)
  command -v ssh >/dev/null && command -v ssh-keygen >/dev/null || need+=(openssh-client)
  command -v chromium >/dev/null || need+=(chromium)
  command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
  [ ${#need[@]} -eq 0 ] && return 0
  echo "test-deps: installing ${need[*]}" >&2
  if ! command -v apt-get >/dev/null; then
    echo "test-deps: cannot install ${need[*]}: no apt-get here; install PostgreSQL 15, the OpenSSH client, Chromium and HAProxy by hand" >&2
    exit 1
  fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
}

# MinIO (S3 with Object Lock, for the s3store and e2e tests) is built once
# per machine, here only, into the cache the tests read it from
# (internal/testenv/minio.go, MinIOBinary); the tests never build it, so its
# 5-8 minutes stay out of every test package's timeout.
build_minio() {
  local module cache bin tmp
  module=$(sed -n 's/^const MinIOModule = "\(.*\)"$/\1/p' internal/testenv/minio.go)
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/gatehouse/bin"
  bin="$cache/minio-${module##*@}"
  [ -x "$bin" ] && return 0
  echo "test-deps: building MinIO ($module) into $cache; about 7.5 minutes the first time" >&2
  mkdir -p "$cache"
  tmp="$bin.tmpdir$$"
  (cd /tmp && GOWORK=off GOFLAGS= GOBIN="$tmp" go install "$module")
  mv "$tmp/minio" "$bin"
  rm -rf "$tmp"
}

install_packages
build_minio
