"""Regular expressions compiled at their first use, not when their module is imported.

Each of kmwizard's patterns checks one kind of input, and a short command (``generate`` of one KVC
tree, ``validate`` of one Module) uses few of the many its modules declare: compiling all of them
at import cost it about a millisecond of CPU (benchmarks/bench_cli_startup.py).
``lazy(pattern, flags)`` stands for ``re.compile(pattern, flags)`` wherever a compiled pattern is
used through its attributes (``match``, ``sub``, ``pattern``, ...); it is not a ``re.Pattern`` to
``isinstance`` or to the module functions (``re.sub(p, ...)``): call its methods.
"""
from __future__ import annotations

import re
from typing import Any, Union


class LazyPattern:
    """``re.compile(pattern, flags)``, done when an attribute is first read."""

    __slots__ = ("_source", "_flags", "_compiled")

    def __init__(self, pattern: Union[str, bytes], flags: int = 0) -> None:
        self._source, self._flags, self._compiled = pattern, flags, None

    def compiled(self) -> re.Pattern:
        if self._compiled is None:
            self._compiled = re.compile(self._source, self._flags)
        return self._compiled

    def __getattr__(self, name: str) -> Any:  # only for what the slots do not hold: the Pattern's API
        return getattr(self.compiled(), name)

    def __repr__(self) -> str:
        return f"lazy({self._source!r}{f', {self._flags!r}' if self._flags else ''})"


def lazy(pattern: Union[str, bytes], flags: int = 0) -> LazyPattern:
    return LazyPattern(pattern, flags)
