"""`python -m greenmeter`."""

from greenmeter.cli import main

main()
