"""kmwizard.records against the standard library's dataclasses, the behaviour it stands in for:
the same declarations must construct, print, compare, hash, refuse assignment and copy alike."""
from __future__ import annotations

import dataclasses
from typing import Optional

import pytest

from kmwizard import records


def _declare(decorate, field):
    class Payload:
        name: str
        size: int = 0
        files: dict = field(default_factory=dict, repr=False)
        manifest: Optional[dict] = field(default=None, compare=False)
        notes: tuple = ()

    return decorate(Payload)


FROZEN = [(_declare(dataclasses.dataclass(frozen=True), dataclasses.field),
           _declare(records.record(frozen=True), records.field))]
MUTABLE = [(_declare(dataclasses.dataclass, dataclasses.field), _declare(records.record, records.field))]


@pytest.mark.parametrize("std, ours", FROZEN + MUTABLE)
def test_construction_repr_and_equality_match_dataclasses(std, ours):
    for args, kwargs in [(("a",), {}), (("a", 3), {"notes": ("n",)}), ((), {"name": "b", "files": {"k": 1}}),
                         (("a", 1, {"x": 2}, {"m": 1}, ("z",)), {})]:
        s, o = std(*args, **kwargs), ours(*args, **kwargs)
        assert repr(o).split("(", 1)[1] == repr(s).split("(", 1)[1]
        assert "files" not in repr(o)  # repr=False keeps secrets out of messages
        assert {n: getattr(o, n) for n in ("name", "size", "files", "manifest", "notes")} == \
            {f.name: getattr(s, f.name) for f in dataclasses.fields(s)}
    assert ours("a", manifest={"x": 1}) == ours("a", manifest={"y": 2})  # compare=False
    assert (std("a", manifest={"x": 1}) == std("a", manifest={"y": 2})) is True
    assert ours("a") != ours("b") and ours("a").__eq__(std("a")) is NotImplemented
    assert ours("a").files is not ours("a").files  # a fresh default per instance


@pytest.mark.parametrize("std, ours", FROZEN + MUTABLE)
def test_argument_errors_are_type_errors_like_dataclasses(std, ours):
    for call in (lambda c: c(), lambda c: c("a", nope=1), lambda c: c("a", name="b"),
                 lambda c: c(1, 2, 3, 4, 5, 6)):
        with pytest.raises(TypeError):
            call(std)
        with pytest.raises(TypeError):
            call(ours)


def test_frozen_records_refuse_assignment_and_hash_by_value():
    (std, ours), = FROZEN
    record = ours("a", 2)
    with pytest.raises(AttributeError):
        record.name = "b"
    with pytest.raises(AttributeError):
        del record.size
    for decorate in (dataclasses.dataclass(frozen=True), records.record(frozen=True)):
        @decorate
        class Point:
            x: int
            label: str = ""

        assert {Point(1, "a"), Point(1, "a"), Point(2)} == {Point(1, "a"), Point(2)}
        assert hash(Point(1, "a")) == hash(Point(1, "a"))
    for cls in (std, ours):  # a dict field makes it unhashable
        with pytest.raises(TypeError):
            hash(cls("a", files={"k": 1}))


def test_mutable_records_are_unhashable_and_assignable():
    (std, ours), = MUTABLE
    record = ours("a")
    record.size = 5
    assert record.size == 5
    with pytest.raises(TypeError):
        hash(record)
    with pytest.raises(TypeError):
        hash(std("a"))


def test_replace_matches_dataclasses_replace():
    (std, ours), = FROZEN
    s, o = dataclasses.replace(std("a", 1), size=9, notes=("n",)), records.replace(ours("a", 1), size=9, notes=("n",))
    assert (o.name, o.size, o.notes) == (s.name, s.size, s.notes)
    with pytest.raises(TypeError):
        records.replace(ours("a"), nope=1)
