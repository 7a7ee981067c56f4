#!/usr/bin/env bash
# `npm run test:install`: the install path a user takes, from `npm pack` output, in a temporary
# global prefix (never the machine's own): the two commands land on PATH and work outside the
# clone. A relay starts on a free loopback port with a temporary data folder, a JSON-mode client
# registers, says something, reads it back as an event and exits; everything is stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d /tmp/securechat-install.XXXXXX)
relay_pid=""
cleanup() {
  [ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null && wait "$relay_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

npm run build >/dev/null
tarball=$(npm pack --silent --pack-destination "$work" | tail -n 1)
echo "packed $tarball ($(du -h "$work/$tarball" | cut -f1))"
npm install --global --prefix "$work/prefix" --no-audit --no-fund "$work/$tarball" >/dev/null
export PATH="$work/prefix/bin:$PATH"
cd "$work"   # outside the clone: nothing resolves from it
for command in relay securechat; do
  found=$(command -v "$command")
  [ "$found" = "$work/prefix/bin/$command" ] || { echo "$command resolves to $found, not the installed one" >&2; exit 1; }
  "$command" --help >/dev/null
done
echo "relay and securechat are on PATH from the tarball"

relay serve --host 127.0.0.1 --port 0 --data "$work/relay-data" >"$work/relay.out" 2>"$work/relay.err" &
relay_pid=$!
for _ in $(seq 1 100); do grep -q 'listening on' "$work/relay.out" 2>/dev/null && break; sleep 0.1; done
line=$(grep 'listening on' "$work/relay.out") || { cat "$work/relay.err" >&2; echo "the relay did not start" >&2; exit 1; }
address=$(sed -E 's/.*listening on ([^ ]+) fingerprint.*/\1/' <<<"$line")
fingerprint=$(sed -E 's/.*fingerprint (sha256:[0-9a-f]+).*/\1/' <<<"$line")
echo "relay on $address"

# Bounded: the client gets 30 s to register, send and see its message, and exits by /exit.
marker="installed-from-the-tarball-$$"
events=$( (sleep 3; echo "$marker"; sleep 2; echo "/exit") | HOME="$work/home" SECURECHAT_PASSWORD=install-test-password \
  timeout 30 securechat --json --server "$address" --user alice --register --fingerprint "$fingerprint" ) || true
grep -q "\"text\":\"$marker\"" <<<"$events" || { echo "$events" >&2; echo "the client did not see its own message" >&2; exit 1; }
echo "install test: passed (a JSON-mode client registered and chatted through the installed relay)"
