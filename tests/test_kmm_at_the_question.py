"""The same KMM checks at the question as in the answer: the key validators in kmwizard/kmm/keys.py
refuse what KMM's webhook (regexp.Compile, validateImageFormat) or its substitution would, so `ask`
(and the TUI, which runs the same validators) asks again where the bad value was typed."""
from __future__ import annotations

import pytest

from kmwizard.answers import Answers
from test_ask import run

pytestmark = pytest.mark.usefixtures("isolated_home")  # presets, key map and cache under tmp_path


def problems(**values) -> list[str]:
    answers = Answers({"method": "kmm", **values})
    return [f.message for f in answers.check() if f.code == "answer-invalid"]


@pytest.mark.parametrize("regexp,version,ok", [
    (r"^5\.14\..+$", None, True),
    (r"^5\.14\C$", None, False),            # C++ RE2 accepts \C, Go does not
    (r"^(?=5).+$", None, False),
    (r"^\p{Letter}", "2.7", True),          # KMM 2.7 is built with Go 1.25: loose \p names
    (r"^\p{Letter}", "2.6", False),         # KMM 2.6 with Go 1.24: not yet
])
def test_kernel_mapping_regexps_by_gos_rules(regexp, version, ok):
    values = {"kmm.kernel_mappings": [{"regexp": regexp}]}
    if version:
        values["kmm.kmm_version"] = version
    found = problems(**values)
    assert (not found) is ok, found
    if not ok:
        assert "Go's regexp" in found[0] and "mapping 0" in found[0]


@pytest.mark.parametrize("image,ok", [
    ("quay.io/org/m:${KERNEL_FULL_VERSION}", True),
    ("quay.io/org/m:${KERNEL_FULL_VERSION", False),   # envsubst: closing brace expected
    ("quay.io/org/m", False),                          # validateImageFormat: no ':' or '@'
    ("registry:5000/m", True),                         # the webhook takes it (a warning later says :latest)
])
def test_container_image(image, ok):
    assert (not problems(**{"kmm.container_image": image})) is ok
    mapping = [{"regexp": "^.+$", "container_image": image}]
    assert (not problems(**{"kmm.kernel_mappings": mapping})) is ok


def test_ask_asks_again_where_the_regexp_was_typed():
    code, prompter, text = run({
        "method": ["kmm"],
        "kmm.kernel_mappings": ["[{regexp: '^5\\C'}]", "[{regexp: '^5\\..+$'}]"],
        "action": ["quit"],
    })
    assert code == 0, text
    assert prompter.asked.count("kmm.kernel_mappings") == 2
    assert "Go's regexp" in text
