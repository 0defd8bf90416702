#!/usr/bin/env bash
# Runs the test suite against the real local stack. Starts the stack unless it is already up,
# and stops it afterwards only if this script started it. Exits with the tests' status.
set -uo pipefail
cd "$(dirname "$0")/.."
fraudops() { node bin/fraudops.cjs "$@"; }

if fraudops stack status --quiet; then
  echo "stack already up: leaving it running after the tests"
else
  trap 'echo "stopping the stack"; fraudops stack down' EXIT
  fraudops stack up || exit 1
fi
node tests/run.mjs "$@"
