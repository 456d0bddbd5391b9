"""kmwizard's own table of the Module CRD's rules (kmwizard/kmm/schema.py) against the real CRD.

The real CRD (config/crd/bases/kmm.sigs.x-k8s.io_modules.yaml of rh-ecosystem-edge/
kernel-module-management, in ../shared/reference) is read at test time only: every minItems,
maxItems, pattern, required, enum and x-kubernetes-validations rule under spec must be in the
table, and for each one a Module that breaks it is rejected by both the real CRD and kmwizard.
"""
from __future__ import annotations

import copy

import pytest
import yaml

from crd_schema import CRD_DIR, require_crds, validate_manifest
from kmwizard.findings import Severity
from kmwizard.kmm import schema
from kmwizard.kmm.lint import lint_document

# Core Kubernetes types inside the Module that kmwizard leaves to the API server's dry run.
CORE_SUBTREES = ("devicePlugin.container", "devicePlugin.initContainer", "devicePlugin.volumes",
                 "dra.container", "dra.initContainer", "dra.volumes",
                 "dra.deviceClasses[].config[]", "dra.deviceClasses[].selectors[]")


def real_spec() -> dict:
    require_crds()
    crd = yaml.safe_load((CRD_DIR / "kmm" / "kmm.sigs.x-k8s.io_modules.yaml").read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


def crd_rules(node: dict, path: str = ""):
    """(path, rule, value) for every constraint under spec, outside CORE_SUBTREES."""
    if path.startswith(CORE_SUBTREES):
        return
    for rule in ("minItems", "maxItems", "pattern", "required", "enum", "x-kubernetes-validations"):
        if rule in node:
            yield path, rule, node[rule]
    for name, sub in (node.get("properties") or {}).items():
        yield from crd_rules(sub, f"{path}.{name}" if path else name)
    if isinstance(node.get("items"), dict):
        yield from crd_rules(node["items"], path + "[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from crd_rules(node["additionalProperties"], path + ".*")


def _part_at(path: str):
    for part, paths in schema.FIELD_PATHS.items():
        if path in (paths if isinstance(paths, tuple) else (paths,)):
            return part
    return None


def test_every_crd_rule_is_in_kmwizards_table():
    rules = list(crd_rules(real_spec()))
    assert len(rules) >= 15
    for path, rule, value in rules:
        if rule == "minItems":
            assert schema.LIST_LIMITS.get(path, (None, None))[0] == value, path
        elif rule == "maxItems":
            assert schema.LIST_LIMITS.get(path, (None, None))[1] == value, path
        elif rule == "pattern":
            assert schema.PATTERNS.get(path) == value, path
        elif rule == "required":
            part = _part_at(path)
            assert part is not None, f"{path} requires {value} but kmwizard does not model it"
            assert schema.MODULE_FIELDS[part][1] == set(value), path
        elif rule == "x-kubernetes-validations":
            assert path == "" and [v["message"] for v in value] == [m for _, m in schema.EXCLUSIVE]
            assert value[0]["rule"] == "!(has(self.dra) && has(self.devicePlugin))"
        else:
            pytest.fail(f"{path}: the CRD has a {rule} rule kmwizard does not know: {value}")
    # and nothing in the table that the CRD does not say
    said = {(p, r) for p, r, _ in rules}
    for path, (low, high) in schema.LIST_LIMITS.items():
        assert (low is None or (path, "minItems") in said) and (high is None or (path, "maxItems") in said), path
    assert all((path, "pattern") in said for path in schema.PATTERNS)


def test_known_fields_are_the_crds():
    spec = real_spec()
    for part, paths in schema.FIELD_PATHS.items():
        node = spec
        path = paths[0] if isinstance(paths, tuple) else paths
        for step in [s for s in path.split(".") if s]:
            node = node["properties"][step.rstrip("[]")]
            if step.endswith("[]"):
                node = node["items"]
        assert set(node["properties"]) == schema.MODULE_FIELDS[part][0], part


def base() -> dict:
    return {"apiVersion": "kmm.sigs.x-k8s.io/v1beta1", "kind": "Module",
            "metadata": {"name": "kmm-ci", "namespace": "openshift-kmm"},
            "spec": {"selector": {"node-role.kubernetes.io/worker": ""},
                     "moduleLoader": {"container": {"modprobe": {"moduleName": "kmm_ci_a"},
                                                    "kernelMappings": [{"regexp": "^.+$",
                                                                        "containerImage": "q.io/o/m:1"}]}}}}


DRA = {"driverName": "gpu.example.com", "container": {"image": "q.io/d:1"}}
ML = ("moduleLoader", "container")

# (id, spec path as a tuple, value that breaks one CRD rule, expected kmwizard code)
BREAKS = [
    ("kernelMappings minItems", ML + ("kernelMappings",), [], "kmm-crd-min-items"),
    ("args.load minItems", ML + ("modprobe", "args"), {"load": []}, "kmm-crd-min-items"),
    ("args.unload minItems", ML + ("modprobe", "args"), {"unload": []}, "kmm-crd-min-items"),
    ("rawArgs.unload minItems", ML + ("modprobe", "rawArgs"), {"load": ["a"], "unload": []}, "kmm-crd-min-items"),
    ("deviceClasses config maxItems", ("dra",), {**DRA, "deviceClasses": [{"name": "a", "config": [{}] * 33}]},
     "kmm-crd-max-items"),
    ("deviceClasses selectors maxItems", ("dra",),
     {**DRA, "deviceClasses": [{"name": "a", "selectors": [{"cel": {"expression": "true"}}] * 33}]},
     "kmm-crd-max-items"),
    ("deviceClasses name pattern", ("dra",), {**DRA, "deviceClasses": [{"name": "Upper"}]}, "kmm-crd-pattern"),
    ("dra driverName required", ("dra",), {"container": {"image": "q.io/d:1"}}, "kmm-field-required"),
    ("dra container required", ("dra",), {"driverName": "gpu.example.com"}, "kmm-field-required"),
    ("devicePlugin container required", ("devicePlugin",), {"serviceAccountName": "x"}, "kmm-field-required"),
    ("mapping containerImage required", ML + ("kernelMappings",), [{"regexp": "^.+$"}], "kmm-field-required"),
    ("sign keySecret required", ML + ("sign",), {"certSecret": {"name": "c"}, "filesToSign": ["/opt/a.ko"]},
     "kmm-field-required"),
    ("buildArg value required", ML + ("build",), {"dockerfileConfigMap": {"name": "cm"}, "buildArgs": [{"name": "A"}]},
     "kmm-field-required"),
    ("build dockerfileConfigMap required", ML + ("build",), {"buildArgs": []}, "kmm-field-required"),
    ("unknown modprobe field", ML + ("modprobe", "modprobedDir"), "/x", "kmm-field-unknown"),
    ("unknown toleration field", ("tolerations",), [{"key": "k", "operator": "Exists", "when": "x"}],
     "kmm-field-unknown"),
]


@pytest.mark.parametrize("path,value,code", [b[1:] for b in BREAKS], ids=[b[0] for b in BREAKS])
def test_kmwizard_and_the_real_crd_reject_the_same_break(path, value, code):
    module = base()
    obj = module["spec"]
    for step in path[:-1]:
        obj = obj.setdefault(step, {})
    obj[path[-1]] = copy.deepcopy(value)
    assert validate_manifest(module), "the real CRD accepts it: this row tests nothing"
    found = {f.code for f in lint_document(module, "m.yaml") if f.severity is Severity.ERROR}
    assert code in found, found


def test_the_cel_rule_dra_with_device_plugin():
    """The CRD's x-kubernetes-validations on spec (jsonschema cannot run CEL; the rule text is
    compared in test_every_crd_rule_is_in_kmwizards_table)."""
    module = base()
    module["spec"]["dra"] = copy.deepcopy(DRA)
    assert "kmm-crd-rule" not in {f.code for f in lint_document(module, "m.yaml")}
    module["spec"]["devicePlugin"] = {"container": {"image": "q.io/p:1"}}
    assert "kmm-crd-rule" in {f.code for f in lint_document(module, "m.yaml")}


def test_a_valid_module_passes_both():
    module = base()
    assert validate_manifest(module) == []
    assert not [f for f in lint_document(module, "m.yaml") if f.severity is Severity.ERROR]


def test_live_crd_fields_replace_the_built_in_table():
    """With a cluster at hand, validate reads the installed CRD: a field newer than kmwizard is known."""
    require_crds()
    crd = yaml.safe_load((CRD_DIR / "kmm" / "kmm.sigs.x-k8s.io_modules.yaml").read_text())
    newer = copy.deepcopy(crd)
    props = newer["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    props["moduleLoader"]["properties"]["container"]["properties"]["modprobe"]["properties"]["modprobedDir"] = \
        {"type": "string"}
    module = base()
    module["spec"]["moduleLoader"]["container"]["modprobe"]["modprobedDir"] = "/etc/modprobe.d"
    assert "kmm-field-unknown" in {f.code for f in lint_document(module, "m.yaml")}
    fields = schema.live_fields(newer)
    assert "modprobedDir" in fields["modprobe"]
    found = lint_document(module, "m.yaml", crd_fields=fields)
    assert "kmm-field-unknown" not in {f.code for f in found}
    assert schema.live_fields(crd)["modprobe"] == schema.MODULE_FIELDS["modprobe"][0]
