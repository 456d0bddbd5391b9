"""kmwizard.regexps: a pattern declared with ``lazy`` is compiled at its first use and then behaves
as ``re.compile`` of the same pattern and flags."""
from __future__ import annotations

import re

import pytest

from kmwizard.regexps import lazy


def test_declaring_compiles_nothing_and_the_first_use_does():
    broken = lazy("(unclosed")  # re.compile would raise here
    with pytest.raises(re.error):
        broken.match("x")


@pytest.mark.parametrize("pattern, flags, text", [
    (r"^(\d+)\.(\d+)$", 0, "2.14"),
    (r"^from\s", re.IGNORECASE, "FROM ubi9"),
    (r"^RUN (\S+)$", re.M, "FROM x\nRUN make\n"),
    (rb"[^a-z]", 0, b"ab%c d"),
])
def test_behaves_as_the_compiled_pattern(pattern, flags, text):
    eager, deferred = re.compile(pattern, flags), lazy(pattern, flags)
    sub = b"_" if isinstance(text, bytes) else "_"
    for method in ("match", "fullmatch", "search", "findall", "split"):
        got, want = getattr(deferred, method)(text), getattr(eager, method)(text)
        assert (got.group(0) if isinstance(got, re.Match) else got) == \
            (want.group(0) if isinstance(want, re.Match) else want), method
    assert deferred.sub(sub, text) == eager.sub(sub, text)
    assert (deferred.pattern, deferred.flags, deferred.groups) == (eager.pattern, eager.flags, eager.groups)
    assert deferred.compiled() is deferred.compiled()  # compiled once
