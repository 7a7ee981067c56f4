#!/usr/bin/env bash
# npm run test:cluster: real redis-server (and, for the proxy tests, haproxy and the SOCKS5 proxy
# microsocks) started by the tests on free loopback ports. Installs the Debian packages when
# missing (needs root then).
set -euo pipefail
cd "$(dirname "$0")/../.."

missing=()
[ -x /usr/bin/redis-server ] || missing+=(redis-server)
[ -x /usr/sbin/haproxy ] || missing+=(haproxy)
[ -x /usr/bin/microsocks ] || missing+=(microsocks)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test:cluster needs ${missing[*]} (Debian: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  # Debian may start its own services of these; the tests run their own instances.
  systemctl disable --now redis-server haproxy microsocks >/dev/null 2>&1 || true
fi

npm run build
# The cluster tier, then the store, bus and login limiter contract suites, whose Redis side needs redis-server.
node test/run-tests.mjs --cluster
node test/run-tests.mjs --tier integration 'relay/(store-contract|bus-contract|redis-store|login-limiter-contract)\.test\.js$'
