#!/usr/bin/env bash
# Installs the servers that silo's tests start on loopback: PostgreSQL 15
# (Debian package) and versitygw (an S3 server, built with go install); and
# promtool (Debian package prometheus), which checks the shipped alert rules;
# python3-avro (Apache Avro for Python), a third reader of silo's Avro parts.
# Idempotent: it installs only what is missing, so CI can run it every time.
set -euo pipefail

PG_BIN=/usr/lib/postgresql/15/bin
VERSITYGW=github.com/versity/versitygw/cmd/versitygw@v1.8.0

sudo_if_needed() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if [ ! -x "$PG_BIN/initdb" ]; then
	echo "installing PostgreSQL 15 (apt-get install -y postgresql)" >&2
	export DEBIAN_FRONTEND=noninteractive
	# Refresh the package lists only when apt does not know the package.
	if ! apt-cache show postgresql >/dev/null 2>&1; then
		sudo_if_needed apt-get update
	fi
	if ! sudo_if_needed apt-get install -y postgresql; then
		sudo_if_needed apt-get update
		sudo_if_needed apt-get install -y postgresql
	fi
fi

if ! command -v promtool >/dev/null 2>&1; then
	echo "installing promtool (apt-get install -y prometheus)" >&2
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-cache show prometheus >/dev/null 2>&1; then
		sudo_if_needed apt-get update
	fi
	if ! sudo_if_needed apt-get install -y --no-install-recommends prometheus; then
		sudo_if_needed apt-get update
		sudo_if_needed apt-get install -y --no-install-recommends prometheus
	fi
fi

if ! /usr/bin/python3 -c "import avro.datafile" >/dev/null 2>&1; then
	echo "installing python3-avro (apt-get install -y python3-avro)" >&2
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-cache show python3-avro >/dev/null 2>&1; then
		sudo_if_needed apt-get update
	fi
	if ! sudo_if_needed apt-get install -y --no-install-recommends python3-avro; then
		sudo_if_needed apt-get update
		sudo_if_needed apt-get install -y --no-install-recommends python3-avro
	fi
fi

gobin="$(go env GOBIN)"
if [ -z "$gobin" ]; then
	gobin="$(go env GOPATH | cut -d: -f1)/bin"
fi
if ! command -v versitygw >/dev/null 2>&1 && [ ! -x "$gobin/versitygw" ]; then
	echo "installing versitygw (go install $VERSITYGW; a few minutes the first time)" >&2
	go install "$VERSITYGW"
fi

echo "test dependencies present: $PG_BIN/initdb, $(command -v versitygw || echo "$gobin/versitygw"), $(command -v promtool)" >&2
