"""Findings on rendered manifests name the answer key (kmwizard.locate), so every front end can lead
the user to the question to change."""
from __future__ import annotations

from kmwizard.findings import Severity
from kmwizard.keys import KEYS
from kmwizard.locate import _RULES, answer_key
from kmwizard.preset_store import load_preset
from kmwizard.render import render


def test_every_rule_names_a_real_answer_key():
    for kind, rules in _RULES.items():
        for prefix, key in rules:
            assert key in KEYS, f"{kind} {prefix} -> {key}: no such answer key"
            assert prefix.startswith("$."), prefix


def errors(answers):
    return [f for f in render(answers).findings if f.severity is Severity.ERROR]


def test_a_finding_on_a_kernel_mapping_names_kernel_mappings_and_keeps_the_path():
    # What KMM's webhook checks per kernelMappings[] entry (kmm/lint.py) lands on module-*.yaml:$...;
    # the answer behind every entry is kmm.kernel_mappings.
    from kmwizard.findings import error
    from kmwizard.locate import locate
    from kmwizard.render import OutputFile

    module = OutputFile("module-x.yaml", b"", manifest={"kind": "Module"})
    where = "module-x.yaml:$.spec.moduleLoader.container.kernelMappings[0].regexp"
    assert answer_key(where, [module], None) == "kmm.kernel_mappings"
    [found] = locate([error(where, "bad regexp", "fix it")], [module], None)
    assert found.where == "kmm.kernel_mappings" and found.message == f"bad regexp (in {where})"
    assert found.fix == "fix it" and found.severity is Severity.ERROR


def test_a_name_too_long_for_the_webhook_names_kmm_name():
    # The KMM webhook limits name + namespace to 40 characters before KMM 2.7 (kmm/lint.py lint_module, rule 1).
    found = errors(load_preset("kmm-ci").set("kmm.name", "a" * 40))
    assert [f.where for f in found] == ["kmm.name"] and "at most 40" in found[0].message


def test_a_module_spec_inside_a_managed_cluster_module_maps_like_a_module():
    from kmwizard.render import OutputFile

    mcm = OutputFile("mcm.yaml", b"", manifest={"kind": "ManagedClusterModule"})
    assert answer_key("mcm.yaml:$.spec.moduleSpec.moduleLoader.container.kernelMappings[2].regexp", [mcm],
                      None) == "kmm.kernel_mappings"
    assert answer_key("mcm.yaml:$.spec.selector.env", [mcm], None) == "kmm.acm_cluster_selector"
    assert answer_key("other.yaml:$.spec", [mcm], None) is None
    assert answer_key("kmm.name", [mcm], None) is None
