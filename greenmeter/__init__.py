"""greenmeter: how many joules and grams of CO2e a command cost."""

__version__ = "0.1.0"
