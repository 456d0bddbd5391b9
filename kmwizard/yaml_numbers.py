"""Numbers read from YAML that remember how they were written.

Apart from ``kmwizard.safe_yaml`` (which makes them) so that code that only meets them, such as the
answers, does not import PyYAML: the wizard's first screen needs no YAML when it starts without a
preset or answers file (benchmarks/bench_startup.py).
"""
from __future__ import annotations

from typing import Any


class YamlInt(int):
    """An int read from a plain (unquoted) scalar; ``text`` is how it was written."""
    text: str = ""


class YamlFloat(float):
    text: str = ""


def plain(value: Any) -> Any:
    """YamlInt/YamlFloat back to int/float (YAML dumpers and JSON want the exact types)."""
    if isinstance(value, YamlInt):
        return int(value)
    if isinstance(value, YamlFloat):
        return float(value)
    return value
