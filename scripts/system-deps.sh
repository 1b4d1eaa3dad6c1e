#!/usr/bin/env bash
# System packages the test suite needs beyond PyPI: Debian's Prometheus (a real server and promtool
# for the monitoring tests), Debian's chromium (the dashboard's browser tests drive it through
# Playwright's Python package; Playwright's own browser download is never used) and npm (the
# browser tests fetch axe-core from the npm registry). Installs them only when missing.
set -euo pipefail
missing=()
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v promtool >/dev/null 2>&1 || [[ " ${missing[*]-} " == *" prometheus "* ]] || missing+=(prometheus)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
echo "installing system packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
