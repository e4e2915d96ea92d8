#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (no browser download). Install it if missing.
set -eu
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser tests."
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "ERROR: the browser tests need Debian's chromium (/usr/bin/chromium): run 'apt-get install chromium' as root." >&2
  exit 1
fi
