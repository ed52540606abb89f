#!/usr/bin/env bash
# The whole test suite: installs what it needs, compiles, runs every ava test, and ends with
# one line "N passed, N failed" counted from ava's TAP output.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1

log=$(mktemp)
trap 'rm -f "$log"' EXIT
npx ava --tap "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
passed=$(grep -E '^ok [0-9]+' "$log" | grep -cv '# SKIP')
skipped=$(grep -E '^ok [0-9]+' "$log" | grep -c '# SKIP')
failed=$(grep -cE '^not ok [0-9]+' "$log")
if ((status != 0 && failed == 0)); then failed=1; fi
if ((skipped > 0)); then echo "${passed} passed, ${failed} failed, ${skipped} skipped"; else echo "${passed} passed, ${failed} failed"; fi
((status == 0 && failed == 0))
