"""greenmeter: how many joules and grams of CO2e a command cost.

From Python (docs/python-api.md): ``greenmeter.phase``, ``greenmeter.add_units`` mark a
measured run from inside; ``greenmeter.Meter`` measures a block of Python on its own.
Importing greenmeter imports nothing else: each name loads its module when first used.
"""

__version__ = "0.1.0"
__all__ = ["Meter", "__version__", "add_units", "phase"]

_LAZY = {"phase": "greenmeter.marks", "add_units": "greenmeter.marks", "Meter": "greenmeter.meter"}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'greenmeter' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
