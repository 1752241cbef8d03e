#!/usr/bin/env bash
# A CI step that marks its phases from the shell: energy of the build, of the tests,
# and per test. Run it under greenmeter (in CI: the step's command):
#
#     greenmeter run --region DE --json ci.json -- bash examples/ci_step.sh
#
# 'greenmeter mark' is the greenmeter on PATH (pipx install works: the command's own
# Python needs nothing); printf to $GREENMETER_CONTROL does the same without it.
# Outside 'greenmeter run' every mark does nothing and exits 0.
set -euo pipefail

greenmeter mark begin build
python3 -m compileall -q examples >/dev/null
greenmeter mark end build

greenmeter mark begin test
for i in 1 2 3; do
    # One phase per suite; printf needs no greenmeter at all (one write, a whole line).
    if [ -n "${GREENMETER_CONTROL:-}" ]; then printf 'begin suite\n' > "$GREENMETER_CONTROL"; fi
    python3 examples/matmul.py >/dev/null
    if [ -n "${GREENMETER_CONTROL:-}" ]; then printf 'end suite\n' > "$GREENMETER_CONTROL"; fi
    greenmeter mark units 1 suites
done
greenmeter mark end test
