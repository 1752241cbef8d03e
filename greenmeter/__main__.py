"""`python -m greenmeter`."""

from greenmeter.cli.main import main

main()
