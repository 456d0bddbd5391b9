"""KMM's admission webhook, rule by rule: a failing and a passing Module for each.

Every row names the function of rh-ecosystem-edge/kernel-module-management (main 0419e2f0,
release-X.Y branches for the version gates) that it mirrors:
internal/webhook/module.go and internal/webhook/preflight.go.  The Modules are our own small
examples; where a rule comes from the CRD rather than the webhook, the real CRD judges too.
"""
from __future__ import annotations

import copy

import pytest

from crd_schema import validate_manifest
from kmwizard.findings import Severity
from kmwizard.kmm.lint import lint_document, lint_documents, lint_module


def module() -> dict:
    return {
        "apiVersion": "kmm.sigs.x-k8s.io/v1beta1", "kind": "Module",
        "metadata": {"name": "kmm-ci", "namespace": "openshift-kmm"},
        "spec": {"selector": {"node-role.kubernetes.io/worker": ""},
                 "moduleLoader": {"container": {
                     "modprobe": {"moduleName": "kmm_ci_a"},
                     "kernelMappings": [{"regexp": "^.+$",
                                         "containerImage": "quay.io/org/kmm-ci:${KERNEL_FULL_VERSION}",
                                         "build": {"dockerfileConfigMap": {"name": "kmm-ci-dockerfile"}}}]}}},
    }


def container(m: dict) -> dict:
    return m["spec"]["moduleLoader"]["container"]


def mapping(m: dict) -> dict:
    return container(m)["kernelMappings"][0]


def errors(m: dict, version: str | None = None, **kwargs) -> set[str]:
    found = lint_document(m, "m.yaml", version, **kwargs)
    return {f.code for f in found if f.severity is Severity.ERROR}


def change(**edits):
    """A mutation: dotted spec paths -> values (None deletes)."""
    def apply(m):
        for path, value in edits.items():
            obj, steps = m["spec"], path.split("__")
            for step in steps[:-1]:
                obj = obj[int(step)] if step.isdigit() else obj.setdefault(step, {})
            if value is None:
                obj.pop(steps[-1], None)
            else:
                obj[steps[-1]] = copy.deepcopy(value)
        return m
    return apply


ML = "moduleLoader__container"
MP = f"{ML}__kernelMappings__0"


def named(name: str, namespace: str = "openshift-kmm"):
    def apply(m):
        m["metadata"] = {"name": name, "namespace": namespace}
        return m
    return apply


def toleration(**tol):
    return change(tolerations=[tol])


SIGN = {"keySecret": {"name": "k"}, "certSecret": {"name": "c"}}

# (id, mirrored KMM code, mutation, KMM version or None, expected error code or None when accepted)
CASES = [
    # validateModule: len(name + namespace) > maxCombinedLength (41; 40 before release-2.7)
    ("length 42", "module.go validateModule maxCombinedLength", named("m" * 29), None, "kmm-name-length"),
    ("length 41 on 2.7", "module.go validateModule maxCombinedLength=41", named("m" * 28), "2.7", None),
    ("length 41 on 2.6", "release-2.6 module.go maxCombinedLength=40", named("m" * 28), "2.6", "kmm-name-length"),
    ("length 40 on 2.6", "release-2.6 module.go maxCombinedLength=40", named("m" * 27), "2.6", None),
    # validateTolerations (release-2.3+)
    ("toleration bad key", "module.go validateTolerations IsQualifiedName", toleration(key="a b", operator="Exists"),
     None, "kmm-toleration"),
    ("toleration empty key Equal", "module.go validateTolerations key empty needs Exists", toleration(operator="Equal"),
     None, "kmm-toleration"),
    ("toleration seconds", "module.go validateTolerations tolerationSeconds needs NoExecute",
     toleration(key="k", operator="Exists", effect="NoSchedule", tolerationSeconds=5), None, "kmm-toleration"),
    ("toleration long value", "module.go validateTolerations IsValidLabelValue",
     toleration(key="k", operator="Equal", value="v" * 64), None, "kmm-toleration"),
    ("toleration bad value chars", "module.go validateTolerations IsValidLabelValue",
     toleration(key="k", value="-v"), None, "kmm-toleration"),
    ("toleration Exists value", "module.go validateTolerations value empty for Exists",
     toleration(key="k", operator="Exists", value="v"), None, "kmm-toleration"),
    ("toleration operator", "module.go validateTolerations operator switch default",
     toleration(key="k", operator="In"), None, "kmm-toleration"),
    ("toleration effect", "module.go validateTolerations validEffects", toleration(key="k", effect="Sometimes"),
     None, "kmm-toleration"),
    ("toleration good", "module.go validateTolerations", toleration(key="node-role.kubernetes.io/master",
                                                                     operator="Exists", effect="NoSchedule"),
     None, None),
    ("toleration good value 63", "module.go validateTolerations", toleration(key="k", value="v" * 63), None, None),
    ("tolerations before 2.3", "release-2.2 module.go: no validateTolerations", toleration(key="k", operator="In"),
     "2.2", "kmm-version-field"),
    # validateDRA (release-2.7+)
    ("dra driver empty", "module.go validateDRA driverName required",
     change(dra={"driverName": "", "container": {"image": "q.io/d:1"}}), None, "kmm-dra"),
    ("dra driver not DNS", "module.go validateDRA IsDNS1123Subdomain",
     change(dra={"driverName": "Gpu_Driver", "container": {"image": "q.io/d:1"}}), None, "kmm-dra"),
    ("dra class empty name", "module.go validateDRA deviceClasses[i].name required",
     change(dra={"driverName": "gpu.example.com", "container": {"image": "q.io/d:1"},
                 "deviceClasses": [{"name": ""}]}), None, "kmm-dra"),
    ("dra class duplicate", "module.go validateDRA duplicate",
     change(dra={"driverName": "gpu.example.com", "container": {"image": "q.io/d:1"},
                 "deviceClasses": [{"name": "a"}, {"name": "a"}]}), None, "kmm-dra"),
    ("dra good", "module.go validateDRA",
     change(dra={"driverName": "gpu.example.com", "container": {"image": "q.io/d:1"},
                 "deviceClasses": [{"name": "a"}, {"name": "b.c"}]}), None, None),
    # validateHostPathVolumes / isAllowedHostPath (release-2.5+, /run from 2.7)
    ("hostPath cleaned escape", "module.go isAllowedHostPath filepath.Clean",
     change(devicePlugin={"container": {"image": "q.io/p:1"}, "volumes": [{"name": "v",
                                                                          "hostPath": {"path": "/var/../etc"}}]}),
     None, "kmm-hostpath"),
    ("hostPath prefix only", "module.go isAllowedHostPath prefix+'/'",
     change(devicePlugin={"container": {"image": "q.io/p:1"}, "volumes": [{"name": "v",
                                                                          "hostPath": {"path": "/devices"}}]}),
     None, "kmm-hostpath"),
    ("hostPath /run on 2.7", "module.go isAllowedHostPath allowedHostPathPrefixes",
     change(devicePlugin={"container": {"image": "q.io/p:1"}, "volumes": [{"name": "v",
                                                                          "hostPath": {"path": "/run/x"}}]}),
     "2.7", None),
    ("hostPath /run on 2.6", "release-2.6 module.go allowedHostPathPrefixes has no /run",
     change(devicePlugin={"container": {"image": "q.io/p:1"}, "volumes": [{"name": "v",
                                                                          "hostPath": {"path": "/run/x"}}]}),
     "2.6", "kmm-hostpath"),
    ("hostPath dra", "module.go validateModule validateHostPathVolumes(spec.dra)",
     change(dra={"driverName": "gpu.example.com", "container": {"image": "q.io/d:1"},
                 "volumes": [{"name": "v", "hostPath": {"path": "/etc/x"}}]}), None, "kmm-hostpath"),
    ("hostPath dev ok", "module.go isAllowedHostPath",
     change(devicePlugin={"container": {"image": "q.io/p:1"}, "volumes": [{"name": "v",
                                                                          "hostPath": {"path": "/dev//x/"}}]}),
     None, None),
    # validateModuleLoaderContainerSpec
    ("in-tree both in container", "module.go validateModuleLoaderContainerSpec container in-tree fields",
     change(**{f"{ML}__inTreeModulesToRemove": ["a"], f"{ML}__inTreeModuleToRemove": "b"}), None,
     "kmm-in-tree-exclusive"),
    ("in-tree both in mapping", "module.go validateModuleLoaderContainerSpec km in-tree fields",
     change(**{f"{MP}__inTreeModulesToRemove": [], f"{MP}__inTreeModuleToRemove": "b"}), None,
     "kmm-in-tree-exclusive"),
    ("in-tree plural in mapping, singular in container", "module.go validateModuleLoaderContainerSpec mixed",
     change(**{f"{MP}__inTreeModulesToRemove": ["a"], f"{ML}__inTreeModuleToRemove": "b"}), None,
     "kmm-in-tree-exclusive"),
    ("in-tree singular in mapping, plural in container", "module.go validateModuleLoaderContainerSpec mixed",
     change(**{f"{MP}__inTreeModuleToRemove": "a", f"{ML}__inTreeModulesToRemove": ["b"]}), None,
     "kmm-in-tree-exclusive"),
    ("in-tree plural both", "module.go validateModuleLoaderContainerSpec",
     change(**{f"{MP}__inTreeModulesToRemove": ["a"], f"{ML}__inTreeModulesToRemove": ["b"]}), None, None),
    ("container image no tag", "module.go validateImageFormat", change(**{f"{ML}__containerImage": "kmod"}), None,
     "kmm-image-tag"),
    ("container image no tag on 2.1", "release-2.1 module.go: no validateImageFormat",
     change(**{f"{ML}__containerImage": "kmod"}), "2.1", None),
    ("mapping image no tag", "module.go validateImageFormat", change(**{f"{MP}__containerImage": "q.io/o/kmod"}),
     None, "kmm-image-tag"),
    ("registry port passes the webhook", "module.go validateImageFormat only looks for ':'",
     change(**{f"{MP}__containerImage": "registry:5000/kmod"}), None, None),
    ("mapping regexp and literal", "module.go validateModuleLoaderContainerSpec mutually exclusive",
     change(**{f"{MP}__literal": "5.14.0-1.el9.x86_64"}), None, "kmm-mapping-regexp-literal"),
    ("mapping neither", "module.go validateModuleLoaderContainerSpec regexp or literal must be set",
     change(**{f"{MP}__regexp": None}), None, "kmm-mapping-regexp-literal"),
    ("regexp Go rejects, C++ accepts", "module.go validateModuleLoaderContainerSpec regexp.Compile",
     change(**{f"{MP}__regexp": r"^5\.14\C$"}), None, "kmm-regexp-re2"),
    ("regexp repeat too large", "module.go validateModuleLoaderContainerSpec regexp.Compile",
     change(**{f"{MP}__regexp": "^x{9876543210}$"}), None, "kmm-regexp-re2"),
    ("regexp Go 1.25 class on 2.7", "module.go regexp.Compile with Go 1.25 (go.mod of release-2.7)",
     change(**{f"{MP}__regexp": r"^\p{Letter}"}), "2.7", None),
    ("regexp Go 1.25 class on 2.6", "module.go regexp.Compile with Go 1.24 (go.mod of release-2.6)",
     change(**{f"{MP}__regexp": r"^\p{Letter}"}), "2.6", "kmm-regexp-re2"),
    ("mapping without any image", "module.go validateModuleLoaderContainerSpec missing containerImage",
     change(**{f"{MP}__containerImage": ""}), None, "kmm-mapping-image"),
    ("mapping empty image, container image", "module.go validateModuleLoaderContainerSpec",
     change(**{f"{MP}__containerImage": "", f"{ML}__containerImage": "q.io/o/k:${KERNEL_FULL_VERSION}"}), None, None),
    # validateModprobe
    ("moduleName and rawArgs", "module.go validateModprobe rawArgs cannot be set",
     change(**{f"{ML}__modprobe__rawArgs": {"load": ["a"]}}), None, "kmm-modprobe-name"),
    ("rawArgs load only", "module.go validateModprobe load and unload rawArgs must be set",
     change(**{f"{ML}__modprobe": {"rawArgs": {"load": ["a"]}}}), None, "kmm-modprobe-name"),
    ("rawArgs both", "module.go validateModprobe",
     change(**{f"{ML}__modprobe": {"rawArgs": {"load": ["a"], "unload": ["-r", "a"]}}}), None, None),
    ("loading order empty list", "module.go validateModprobe ModulesLoadingOrder != nil",
     change(**{f"{ML}__modprobe__modulesLoadingOrder": []}), None, "kmm-loading-order"),
    ("loading order one", "module.go validateModprobe at least two values",
     change(**{f"{ML}__modprobe__modulesLoadingOrder": ["kmm_ci_a"]}), None, "kmm-loading-order"),
    ("loading order without moduleName", "module.go validateModprobe moduleName must be set",
     change(**{f"{ML}__modprobe": {"rawArgs": {"load": ["a"], "unload": ["a"]}, "modulesLoadingOrder": ["a", "b"]}}),
     None, "kmm-loading-order"),
    ("loading order first", "module.go validateModprobe first element must be moduleName",
     change(**{f"{ML}__modprobe__modulesLoadingOrder": ["b", "kmm_ci_a"]}), None, "kmm-loading-order"),
    ("loading order duplicate", "module.go validateModprobe duplicate value",
     change(**{f"{ML}__modprobe__modulesLoadingOrder": ["kmm_ci_a", "b", "b"]}), None, "kmm-loading-order"),
    ("loading order good", "module.go validateModprobe",
     change(**{f"{ML}__modprobe__modulesLoadingOrder": ["kmm_ci_a", "b"]}), None, None),
    # validateFilesToSign / validateSignSection (release-2.6+)
    ("container sign without files", "module.go validateSignSection filesToSign is required",
     change(**{f"{ML}__sign": {**SIGN, "filesToSign": []}}), None, "kmm-sign-files-empty"),
    ("mapping sign checked on its own", "module.go validateSignSection via validateFilesToSign kernelMappings[idx]",
     change(**{f"{ML}__sign": {**SIGN, "filesToSign": ["/opt/lib/modules/${KERNEL_FULL_VERSION}/a.ko"]},
               f"{MP}__sign": {**SIGN}}), None, "kmm-sign-files-empty"),
    ("files outside dirName", "module.go validateSignSection HasPrefix(dirName+'/')",
     change(**{f"{ML}__sign": {**SIGN, "filesToSign": ["/optx/a.ko"]}}), None, "kmm-sign-files-dir"),
    ("dirName with trailing slash", "module.go validateSignSection HasPrefix(dirName+'/')",
     change(**{f"{ML}__modprobe__dirName": "/opt/",
               f"{ML}__sign": {**SIGN, "filesToSign": ["/opt/lib/modules/a.ko"]}}), None, "kmm-sign-files-dir"),
    ("files under default dirName", "module.go validateSignSection (CRD default dirName /opt)",
     change(**{f"{ML}__sign": {**SIGN, "filesToSign": ["/opt/lib/modules/${KERNEL_FULL_VERSION}/a.ko"]}}), None,
     None),
    ("sign without files on 2.5", "release-2.5 module.go: no validateFilesToSign",
     change(**{f"{ML}__sign": {**SIGN}}), "2.5", None),
]


@pytest.mark.parametrize("mutate,version,code", [c[2:] for c in CASES], ids=[c[0] for c in CASES])
def test_webhook_rule(mutate, version, code):
    m = mutate(module())
    found = errors(m, version)
    if code is None:
        assert not found, found
    else:
        assert code in found, found


def test_every_webhook_function_has_a_passing_and_a_failing_case():
    outcomes = {}
    for _, source, _, _, code in CASES:
        if source.startswith("module.go "):
            outcomes.setdefault(source.split()[1], set()).add(code is None)
    assert set(outcomes) >= {"validateModule", "validateTolerations", "validateDRA", "isAllowedHostPath",
                             "validateModuleLoaderContainerSpec", "validateImageFormat", "validateModprobe",
                             "validateSignSection"}
    assert {f: o for f, o in outcomes.items() if o != {True, False}} == {}


def test_the_namespace_a_file_goes_to_is_assumed_and_said():
    """validateModule adds mod.Namespace: a file without one is judged in the namespace it is applied in."""
    m = module()
    m["metadata"] = {"name": "m" * 35}
    found = lint_document(m, "m.yaml")
    assert "kmm-name-length" in {f.code for f in found if f.severity is Severity.ERROR}  # 35 + len("default")
    notes = [f for f in found if f.code == "kmm-namespace-assumed"]
    assert notes and "'default'" in notes[0].message and "-n" in notes[0].fix
    found = lint_document(m, "m.yaml", namespace="ab")
    assert "kmm-name-length" not in {f.code for f in found}
    assert any("'ab'" in f.message for f in found if f.code == "kmm-namespace-assumed")


def test_every_problem_at_once():
    """A type error does not hide the unknown field next to it, nor the webhook's objections."""
    m = module()
    container(m)["modprobe"]["dirName"] = 5                        # type
    container(m)["modprobe"]["modprobedDir"] = "/x"                # unknown (newer than this CRD)
    container(m)["modprobe"]["modulesLoadingOrder"] = []           # webhook
    mapping(m)["literal"] = "5.14.0-1.el9.x86_64"                   # webhook
    m["spec"]["tolerations"] = [{"operator": "Equal"}]              # webhook
    found = {f.code for f in lint_document(m, "m.yaml")}
    assert {"kmm-field-type", "kmm-field-unknown", "kmm-loading-order", "kmm-mapping-regexp-literal",
            "kmm-toleration"} <= found
    assert validate_manifest(m)  # the real CRD objects to this file too


@pytest.mark.parametrize("kernel,ok", [("", False), ("5.14", False), ("5", False), ("5.14.0", True),
                                       ("5-14,0", True), ("5.14.0-427.13.1.el9_4.x86_64", True)])
def test_preflight_kernel_version(kernel, ok):
    """Mirrors internal/webhook/preflight.go validatePreflight: non-empty, >= 3 fields split on [.,-]."""
    doc = {"apiVersion": "kmm.sigs.x-k8s.io/v1beta2", "kind": "PreflightValidationOCP",
           "metadata": {"name": "p"}, "spec": {"kernelVersion": kernel}}
    found = {f.code for f in lint_document(doc, "p.yaml")}
    assert ("kmm-preflight-kernel" not in found) is ok


def test_findings_name_the_field_the_rule_and_the_fix():
    for _, _, mutate, version, code in CASES:
        if code is None:
            continue
        found = [f for f in lint_document(mutate(module()), "m.yaml", version) if f.code == code]
        assert found and all(f.where.startswith("m.yaml:$.") and f.fix and len(f.message) > 30 for f in found), found


def test_managed_cluster_module_gets_the_same_rules():
    m = module()
    container(m)["modprobe"]["modulesLoadingOrder"] = []
    mcm = {"apiVersion": "hub.kmm.sigs.x-k8s.io/v1beta1", "kind": "ManagedClusterModule",
           "metadata": {"name": "kmm-ci"}, "spec": {"spokeNamespace": "drivers", "selector": {"a": "b"},
                                                      "moduleSpec": m["spec"]}}
    found = [f for f in lint_documents([("mcm.yaml", mcm)]) if f.code == "kmm-loading-order"]
    assert found and found[0].where.startswith("mcm.yaml:$.spec.moduleSpec.moduleLoader")


def test_lint_module_is_usable_directly_without_a_known_version():
    assert not [f for f in lint_module(module(), "m.yaml") if f.severity is Severity.ERROR]
