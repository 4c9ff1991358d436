#!/bin/sh
# Makes a fresh machine (Node 20 + npm) ready: pnpm, dependencies and, for the
# test suite, Debian's chromium for the browser end-to-end tests.
# Usage: sh scripts/setup.sh [test]
set -eu
cd "$(dirname "$0")/.."

if ! command -v pnpm >/dev/null 2>&1; then
  echo "setup: pnpm not found; installing pnpm@10 with npm (corepack is not used: it fails on some machines)"
  npm install -g pnpm@10 >/dev/null
fi

if [ ! -d node_modules/.pnpm ] || [ pnpm-lock.yaml -nt node_modules/.modules.yaml ]; then
  echo "setup: installing dependencies"
  if [ -n "${CI:-}" ]; then
    pnpm install --frozen-lockfile --reporter=append-only
  else
    pnpm install --reporter=append-only
  fi
fi

if [ "${1:-}" = "test" ] && [ -z "${ANNEX_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  echo "setup: chromium not found; installing Debian's chromium for the browser tests"
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || { echo "setup: could not install chromium; install it (apt-get install chromium) or set ANNEX_CHROMIUM=/path/to/chromium"; exit 1; }
  else
    echo "setup: run 'sudo apt-get install chromium' or set ANNEX_CHROMIUM=/path/to/chromium, then run the tests again"
    exit 1
  fi
fi
