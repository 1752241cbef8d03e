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
