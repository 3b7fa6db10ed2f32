#!/usr/bin/env bash
# Installs what `make compat` needs beyond `make test-deps`: a JDK and the
# PostgreSQL JDBC driver from Debian (libpostgresql-jdbc-java), for the
# JDBC checks of e2e/compat_test.go.
set -euo pipefail

need=()
command -v javac >/dev/null && command -v java >/dev/null || need+=(default-jdk-headless)
[ -f /usr/share/java/postgresql.jar ] || need+=(libpostgresql-jdbc-java)
[ ${#need[@]} -eq 0 ] && exit 0
echo "compat-deps: installing ${need[*]}" >&2
if ! command -v apt-get >/dev/null; then
  echo "compat-deps: cannot install ${need[*]}: no apt-get here; install a JDK and the PostgreSQL JDBC driver (/usr/share/java/postgresql.jar) by hand" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
