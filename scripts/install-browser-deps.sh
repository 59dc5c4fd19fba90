#!/usr/bin/env bash
# Installs what the dashboard's browser test (web/dashboard_test.go) and the
# TypeScript SDK test (sdk-tests/ts) need: Debian's chromium, and the npm
# packages of sdk-tests/ts from its lockfile. Idempotent: CI runs it every
# time and it installs only what is missing.
set -euo pipefail

sudo_if_needed() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if [ ! -x /usr/bin/chromium ]; then
	echo "installing chromium (apt-get install -y chromium)" >&2
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-cache show chromium >/dev/null 2>&1; then
		sudo_if_needed apt-get update
	fi
	if ! sudo_if_needed apt-get install -y chromium; then
		sudo_if_needed apt-get update
		sudo_if_needed apt-get install -y chromium
	fi
fi

root="$(cd "$(dirname "$0")/.." && pwd)"
if [ -f "$root/sdk-tests/ts/package-lock.json" ] && { [ ! -d "$root/sdk-tests/ts/node_modules/cohere-ai" ] || [ ! -d "$root/sdk-tests/ts/node_modules/tus-js-client" ]; }; then
	echo "installing the TypeScript SDK test's packages (npm ci in sdk-tests/ts)" >&2
	npm ci --prefix "$root/sdk-tests/ts" --no-audit --no-fund
fi
if [ -f "$root/sdk-tests/webhooks/package-lock.json" ] && { [ ! -d "$root/sdk-tests/webhooks/node_modules/standardwebhooks" ] || [ ! -d "$root/sdk-tests/webhooks/node_modules/cloudevents" ]; }; then
	echo "installing the webhook receiver's packages (npm ci in sdk-tests/webhooks)" >&2
	npm ci --prefix "$root/sdk-tests/webhooks" --no-audit --no-fund
fi

echo "browser test dependencies present: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)" >&2
