"""greenmeter's exit codes. Anything else is the wrapped command's own.

Chosen like GNU ``env``/``timeout``: 125 for greenmeter's own failure, 126/127 as a shell
reports a command it could not run, 128+N for a command killed by signal N.
"""

GREENMETER_ERROR = 125
"""Bad options, config, region or output path (before launch), or a report that could
not be written after a command that succeeded."""
NOT_EXECUTABLE = 126
NOT_FOUND = 127
SIGNAL_BASE = 128
"""A command killed by signal N exits 128 + N."""

# 121 and 122 sit outside the codes that wrapped commands and their wrappers commonly use
# (0-5 test runners, 64-78 sysexits, 120 a Python that cannot flush stdout, 123 xargs,
# 124 timeout, 125-127 env and shells, 128+N signals), so a CI log's exit code tells
# whether greenmeter's gate or the command itself failed the job.
BUDGET_EXCEEDED = 121
"""``run --max-energy/--max-co2``: the command succeeded but a run went over its budget
(a command that failed exits with its own code instead)."""
REGRESSION = 122
"""``compare --max-increase``: the candidate is significantly worse than the baseline."""
ADVICE = 119
"""``run --fail-on idle-gpu,...``: the command succeeded but the run has a finding named
there (a command that failed exits with its own code; an exceeded budget, 121, wins)."""
