"""Plain data classes without the start-up cost of ``dataclasses``.

``import dataclasses`` takes about 4 ms of CPU (it imports inspect, ast, dis and tokenize) and each
``@dataclass`` about 0.5 ms more (it compiles its methods with exec).  For a short command such as
``kmwizard generate`` on a real KVC module that was a third of everything it spends beyond starting
Python and importing yaml (benchmarks/bench_cli_startup.py).  ``record`` does what kmwizard's data
classes use of ``dataclass``: ``__init__`` from the annotated fields in order (with defaults and
``field(default_factory=...)``), ``__repr__`` (``field(repr=False)`` keeps a value out of it),
``__eq__`` over the fields that compare, and with ``frozen=True`` no assignment and a ``__hash__``;
``__post_init__`` runs after ``__init__`` (Finding masks its texts there).
``replace`` is ``dataclasses.replace``.
"""
from __future__ import annotations

from operator import attrgetter
from typing import Any

_MISSING = object()


class Field:
    __slots__ = ("default", "default_factory", "compare", "repr")

    def __init__(self, default: Any = _MISSING, default_factory: Any = _MISSING, compare: bool = True,
                 repr: bool = True) -> None:
        self.default, self.default_factory, self.compare, self.repr = default, default_factory, compare, repr


def field(*, default: Any = _MISSING, default_factory: Any = _MISSING, compare: bool = True,
          repr: bool = True) -> Any:
    return Field(default, default_factory, compare, repr)


class FrozenRecordError(AttributeError):
    """A field of a frozen record was assigned (dataclasses raises FrozenInstanceError here)."""


def record(cls: Any = None, /, *, frozen: bool = False) -> Any:
    """Class decorator: ``@record`` or ``@record(frozen=True)``."""
    if cls is None:
        return lambda c: _make_record(c, frozen)
    return _make_record(cls, frozen)


def _make_record(cls: Any, frozen: bool) -> Any:
    fields: list[tuple[str, Field]] = []
    for name in cls.__dict__.get("__annotations__", {}):
        value = cls.__dict__.get(name, _MISSING)
        spec = value if isinstance(value, Field) else Field(default=value)
        fields.append((name, spec))
        if isinstance(value, Field):  # the class attribute is the plain default, as with dataclasses
            if spec.default is _MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, spec.default)
    names = tuple(name for name, _ in fields)
    compared = tuple(name for name, spec in fields if spec.compare)
    shown = tuple(name for name, spec in fields if spec.repr)
    # The compared values as a tuple, read in C: equality and hashing are as fast as dataclasses'.
    key = attrgetter(*compared) if len(compared) > 1 else lambda obj: tuple(getattr(obj, n) for n in compared)
    title = cls.__qualname__
    defaults = [(name, spec) for name, spec in fields if spec.default is not _MISSING
                or spec.default_factory is not _MISSING]
    post_init = getattr(cls, "__post_init__", None)  # run after __init__, as dataclasses does

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(names):
            raise TypeError(f"{title}() takes {len(names)} arguments but {len(args)} were given")
        values = dict(zip(names, args))
        for given in kwargs:
            if given not in names:
                raise TypeError(f"{title}() got an unexpected keyword argument {given!r}")
            if given in values:
                raise TypeError(f"{title}() got multiple values for argument {given!r}")
        values.update(kwargs)
        if len(values) < len(names):
            for name, spec in defaults:
                if name not in values:
                    values[name] = spec.default if spec.default is not _MISSING else spec.default_factory()
            if len(values) < len(names):
                missing = [name for name in names if name not in values]
                raise TypeError(f"{title}() missing required argument: {missing[0]!r}")
        self.__dict__.update(values)  # not setattr: a frozen record refuses that
        if post_init is not None:
            post_init(self)

    def __repr__(self) -> str:
        return f"{title}({', '.join(f'{name}={getattr(self, name)!r}' for name in shown)})"

    def __eq__(self, other: Any) -> Any:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return key(self) == key(other)

    cls.__init__, cls.__repr__, cls.__eq__ = __init__, __repr__, __eq__
    cls.__record_fields__ = names
    if frozen:
        def __setattr__(self, name: str, value: Any) -> None:
            raise FrozenRecordError(f"cannot assign to field {name!r} of {title}: it is frozen")

        def __delattr__(self, name: str) -> None:
            raise FrozenRecordError(f"cannot delete field {name!r} of {title}: it is frozen")

        def __hash__(self) -> int:
            return hash(key(self))

        cls.__setattr__, cls.__delattr__, cls.__hash__ = __setattr__, __delattr__, __hash__
    else:
        cls.__hash__ = None  # mutable and compared by value: unhashable, as with dataclasses
    return cls


def replace(obj: Any, **changes: Any) -> Any:
    """A copy of the record ``obj`` with some fields changed."""
    values = {name: getattr(obj, name) for name in obj.__record_fields__}
    values.update(changes)
    return obj.__class__(**values)
