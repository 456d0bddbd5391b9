"""Every KMM webhook rule and silent-failure lint: one failing and one passing case each.

The fixtures are hand-written Modules as users write them (the base one is checked against the
real CRD first), and regexps are judged by RE2 itself where it matters.
"""
from __future__ import annotations

import copy
import re

import pytest
import re2

from crd_schema import require_crds, validate_manifest
from kmwizard.findings import Severity
from kmwizard.kmm.dockerfile import lint_dockerfile
from kmwizard.kmm.lint import lint_document, lint_documents, version_change_findings

DOCS_DOCKERFILE = """ARG DTK_AUTO
FROM ${DTK_AUTO} as builder
ARG KERNEL_VERSION
WORKDIR /usr/src
RUN ["git", "clone", "https://github.com/rh-ecosystem-edge/kernel-module-management.git"]
WORKDIR /usr/src/kernel-module-management/ci/kmm-kmod
RUN KERNEL_SRC_DIR=/lib/modules/${KERNEL_VERSION}/build make all
FROM registry.redhat.io/ubi8/ubi-minimal
ARG KERNEL_VERSION
RUN microdnf install kmod
COPY --from=builder /usr/src/kernel-module-management/ci/kmm-kmod/kmm_ci_a.ko /opt/lib/modules/${KERNEL_VERSION}/
COPY --from=builder /usr/src/kernel-module-management/ci/kmm-kmod/kmm_ci_b.ko /opt/lib/modules/${KERNEL_VERSION}/
RUN depmod -b /opt ${KERNEL_VERSION}
"""


def base_module() -> dict:
    return {
        "apiVersion": "kmm.sigs.x-k8s.io/v1beta1",
        "kind": "Module",
        "metadata": {"name": "kmm-ci", "namespace": "openshift-kmm"},
        "spec": {
            "moduleLoader": {"container": {
                "modprobe": {"moduleName": "kmm_ci_a"},
                "kernelMappings": [{"regexp": "^.+$",
                                    "containerImage": "quay.io/org/kmm-ci:${KERNEL_FULL_VERSION}",
                                    "build": {"dockerfileConfigMap": {"name": "kmm-ci-dockerfile"}}}],
            }},
            "selector": {"node-role.kubernetes.io/worker": ""},
        },
    }


def container(module: dict) -> dict:
    return module["spec"]["moduleLoader"]["container"]


def codes(findings, severity=None) -> set[str]:
    return {f.code for f in findings if severity is None or f.severity is severity}


def lint(module: dict, version: str | None = None):
    found = lint_document(module, "m.yaml", version)
    assert found is not None
    return found


def test_base_module_is_accepted_by_the_real_crd_and_clean():
    require_crds()
    assert validate_manifest(base_module()) == []
    assert codes(lint(base_module()), Severity.ERROR) == set()
    assert codes(lint(base_module())) == set()


def test_not_kmm_documents_are_left_to_others():
    assert lint_document({"apiVersion": "machineconfiguration.openshift.io/v1", "kind": "MachineConfig"},
                         "mc.yaml") is None
    assert lint_document({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}}, "cm.yaml") is None


# --- webhook rule 1: name + namespace length ----------------------------------------------

@pytest.mark.parametrize("version,length,rejected", [("2.6", 41, True), ("2.6", 40, False), ("2.7", 41, False),
                                                      ("2.7", 42, True)])
def test_name_plus_namespace_length(version, length, rejected):
    module = base_module()
    module["metadata"]["name"] = "m" * (length - len("openshift-kmm"))
    found = codes(lint(module, version), Severity.ERROR)
    assert ("kmm-name-length" in found) is rejected


# --- webhook rule 2: regexp xor literal, RE2, image present ----------------------------------

@pytest.mark.parametrize("mapping", [{"regexp": "^.+$", "literal": "5.14.0"}, {}])
def test_mapping_needs_exactly_one_of_regexp_and_literal(mapping):
    module = base_module()
    container(module)["kernelMappings"] = [{**mapping, "containerImage": "quay.io/org/m:${KERNEL_FULL_VERSION}"}]
    assert "kmm-mapping-regexp-literal" in codes(lint(module), Severity.ERROR)
    container(module)["kernelMappings"] = [{"literal": "5.14.0-427.13.1.el9_4.x86_64",
                                            "containerImage": "quay.io/org/m:fixed"}]
    assert "kmm-mapping-regexp-literal" not in codes(lint(module))


@pytest.mark.parametrize("regexp,python_accepts", [
    (r"^.+\el9\.x86_64$", False),   # the docs' own example
    (r"^(?=5\.14).+$", True),
    (r"^(5)\.\1.*$", True),
    (r"^.+\.x86_64\Z", True),
])
def test_regexps_rejected_by_re2(regexp, python_accepts):
    if python_accepts:
        re.compile(regexp)  # Python's re takes these: the reason RE2 must judge
    with pytest.raises(re2.error):
        re2.compile(regexp)
    module = base_module()
    container(module)["kernelMappings"][0]["regexp"] = regexp
    found = [f for f in lint(module) if f.code == "kmm-regexp-re2"]
    assert found and found[0].severity is Severity.ERROR
    assert regexp in found[0].message and "kernelMappings[0].regexp" in found[0].where


def test_valid_re2_regexp_passes():
    module = base_module()
    container(module)["kernelMappings"][0]["regexp"] = r"^.+\.el9_\d+\.x86_64$"
    assert "kmm-regexp-re2" not in codes(lint(module))


def test_mapping_without_any_image():
    module = base_module()
    container(module)["kernelMappings"][0]["containerImage"] = ""
    assert "kmm-mapping-image" in codes(lint(module), Severity.ERROR)
    container(module)["containerImage"] = "quay.io/org/kmm-ci:${KERNEL_FULL_VERSION}"
    assert "kmm-mapping-image" not in codes(lint(module))


# --- webhook rule 3: tag or digest, on the last path component --------------------------------

@pytest.mark.parametrize("image,ok", [
    ("registry.example.com:5000/org/kmod", True),            # the port is no tag, but the webhook takes it
    ("kmod", False),
    ("registry.example.com:5000/org/kmod:${KERNEL_FULL_VERSION}", True),
    ("quay.io/org/kmod@sha256:" + "a" * 64, True),
    ("quay.io/org/kmod@sha256:xyz", False),                 # malformed digest
    ("quay.io/Org/kmod:1.0", False),                         # upper case repository
])
def test_image_needs_tag_or_digest(image, ok):
    module = base_module()
    mapping = container(module)["kernelMappings"][0]
    mapping["containerImage"] = image
    mapping["literal"] = "5.14.0-427.13.1.el9_4.x86_64"  # one kernel: fixed tags are fine here
    del mapping["regexp"]
    found = codes(lint(module), Severity.ERROR) & {"kmm-image-tag", "kmm-image-invalid"}
    assert (not found) is ok, found


# --- webhook rule 4: moduleName xor rawArgs --------------------------------------------------

@pytest.mark.parametrize("modprobe,code", [
    ({"moduleName": "a", "rawArgs": {"load": ["-v", "a"], "unload": ["-rv", "a"]}}, "kmm-modprobe-name"),
    ({}, "kmm-modprobe-name"),
    ({"rawArgs": {"load": ["-v", "a"]}}, "kmm-modprobe-name"),
])
def test_modprobe_rules(modprobe, code):
    module = base_module()
    container(module)["modprobe"] = modprobe
    assert code in codes(lint(module), Severity.ERROR)
    container(module)["modprobe"] = {"rawArgs": {"load": ["-v", "a"], "unload": ["-rv", "a"]}}
    assert not codes(lint(module)) & {"kmm-modprobe-name", "kmm-modprobe-rawargs"}


# --- webhook rule 5: modulesLoadingOrder -------------------------------------------------------

@pytest.mark.parametrize("order", [["kmm_ci_a"], ["kmm_ci_b", "kmm_ci_a"], ["kmm_ci_a", "kmm_ci_b", "kmm_ci_b"]])
def test_modules_loading_order_rejected(order):
    module = base_module()
    container(module)["modprobe"]["modulesLoadingOrder"] = order
    assert "kmm-loading-order" in codes(lint(module), Severity.ERROR)


def test_modules_loading_order_accepted():
    module = base_module()
    container(module)["modprobe"]["modulesLoadingOrder"] = ["kmm_ci_a", "kmm_ci_b"]
    assert "kmm-loading-order" not in codes(lint(module))


# --- webhook rule 6: filesToSign --------------------------------------------------------------

def _signed(files):
    module = base_module()
    container(module)["sign"] = {"keySecret": {"name": "k"}, "certSecret": {"name": "c"}}
    if files is not None:
        container(module)["sign"]["filesToSign"] = files
    return module


def test_files_to_sign_required_from_2_6():
    assert "kmm-sign-files-empty" in codes(lint(_signed(None), "2.6"), Severity.ERROR)
    assert "kmm-sign-files-empty" not in codes(lint(_signed(None), "2.5"))
    assert "kmm-sign-files-empty" not in codes(lint(_signed(["/opt/lib/modules/${KERNEL_FULL_VERSION}/a.ko"])))


def test_files_to_sign_under_dir_name():
    assert "kmm-sign-files-dir" in codes(lint(_signed(["/lib/modules/${KERNEL_FULL_VERSION}/a.ko"])),
                                         Severity.ERROR)
    module = _signed(["/srv/lib/modules/${KERNEL_FULL_VERSION}/a.ko"])
    container(module)["modprobe"]["dirName"] = "/srv"
    assert "kmm-sign-files-dir" not in codes(lint(module))


def test_sign_without_build_or_unsigned_image():
    module = _signed(["/opt/a.ko"])
    del container(module)["kernelMappings"][0]["build"]
    assert "kmm-sign-nothing" in codes(lint(module), Severity.ERROR)
    container(module)["sign"]["unsignedImage"] = "quay.io/org/unsigned:${KERNEL_FULL_VERSION}"
    assert "kmm-sign-nothing" not in codes(lint(module))


# --- webhook rule 7: tolerations, hostPath ----------------------------------------------------

GOOD_TOLERATION = {"key": "node-role.kubernetes.io/master", "operator": "Exists", "effect": "NoSchedule"}


@pytest.mark.parametrize("toleration", [
    {"key": "node-role.kubernetes.io/master", "operator": "Exists", "value": "x", "effect": "NoSchedule"},
    {"key": "a", "operator": "Equal", "value": "b", "effect": "Sometimes"},
    {"operator": "Equal", "value": "b"},
    {"key": "a", "operator": "Equal", "value": "b", "effect": "NoSchedule", "tolerationSeconds": 5},
    {"key": "a", "operator": "In"},
    {"key": "bad key!", "operator": "Exists"},
])
def test_bad_tolerations(toleration):
    module = base_module()
    module["spec"]["tolerations"] = [toleration]
    assert "kmm-toleration" in codes(lint(module, "2.4"), Severity.ERROR)


def test_good_tolerations_and_their_version():
    module = base_module()
    module["spec"]["tolerations"] = [GOOD_TOLERATION, {"operator": "Exists"},
                                     {"key": "a", "value": "b", "effect": "NoExecute", "tolerationSeconds": 30}]
    assert codes(lint(module, "2.4"), Severity.ERROR) == set()
    assert "kmm-version-field" in codes(lint(module, "2.2"), Severity.ERROR)


def test_device_plugin_host_path():
    module = base_module()
    module["spec"]["devicePlugin"] = {"container": {"image": "quay.io/org/dp:1"},
                                      "volumes": [{"name": "v", "hostPath": {"path": "/etc/kubernetes"}}]}
    assert "kmm-hostpath" in codes(lint(module), Severity.ERROR)
    module["spec"]["devicePlugin"]["volumes"][0]["hostPath"]["path"] = "/var/lib/kubelet/device-plugins"
    assert "kmm-hostpath" not in codes(lint(module))


# --- webhook rule 8: version on update ---------------------------------------------------------

def test_version_cannot_appear_or_disappear():
    old, new = base_module(), base_module()
    container(new)["version"] = "1.0"
    assert [f.code for f in version_change_findings(old, new, "m.yaml")] == ["kmm-version-change"]
    assert [f.code for f in version_change_findings(new, old, "m.yaml")] == ["kmm-version-change"]
    newer = copy.deepcopy(new)
    container(newer)["version"] = "1.1"
    assert version_change_findings(new, newer, "m.yaml") == []


# --- version-gated fields ----------------------------------------------------------------------

def test_version_gated_fields():
    module = base_module()
    module["spec"]["imageRebuildTriggerGeneration"] = 1
    container(module)["inTreeModulesToRemove"] = ["ice"]
    assert "kmm-version-field" in codes(lint(module, "2.5"), Severity.ERROR)
    assert "kmm-version-field" not in codes(lint(module, "2.6"))
    del module["spec"]["imageRebuildTriggerGeneration"]
    assert "kmm-version-field" in codes(lint(module, "2.0"), Severity.ERROR)


# --- silent-failure lints ------------------------------------------------------------------------

def test_unanchored_regexp():
    module = base_module()
    container(module)["kernelMappings"][0]["regexp"] = r"el9_4\.x86_64"
    assert "kmm-regexp-unanchored" in codes(lint(module), Severity.WARNING)
    # Proof that it matters: unanchored, RE2 also takes a kernel that merely contains it.
    assert re2.search(r"el9_4\.x86_64", "5.14.0-427.13.1.el9_4.x86_64+rt")
    container(module)["kernelMappings"][0]["regexp"] = r"^.+\.el9_4\.x86_64$"
    assert "kmm-regexp-unanchored" not in codes(lint(module))


def test_unescaped_dot():
    module = base_module()
    container(module)["kernelMappings"][0]["regexp"] = r"^.+\.el9_4.x86_64$"
    assert "kmm-regexp-dot" in codes(lint(module), Severity.WARNING)
    assert re2.search(r"^.+\.el9_4.x86_64$", "5.14.0-427.el9_4Xx86_64")  # the dot matches anything
    container(module)["kernelMappings"][0]["regexp"] = r"^.+\.el9_4\.x86_64$"
    assert "kmm-regexp-dot" not in codes(lint(module))


def test_catch_all_before_specific_mapping():
    module = base_module()
    specific = {"literal": "5.14.0-427.13.1.el9_4.x86_64", "containerImage": "quay.io/org/special:1"}
    container(module)["kernelMappings"].append(specific)
    found = [f for f in lint(module) if f.code == "kmm-mapping-unreachable"]
    assert found and "kernelMappings[1]" in found[0].where
    container(module)["kernelMappings"].reverse()
    assert "kmm-mapping-unreachable" not in codes(lint(module))


def test_building_mapping_with_fixed_tag_over_many_kernels():
    module = base_module()
    mapping = container(module)["kernelMappings"][0]
    mapping["containerImage"] = "quay.io/org/kmm-ci:latest"
    found = [f for f in lint(module) if f.code == "kmm-image-tag-kernel"]
    assert found and found[0].severity is Severity.WARNING  # KMM accepts it; it breaks with a second kernel
    assert "second matching kernel" in found[0].message
    # A regexp that can only match one kernel, or a literal, may keep a fixed tag.
    mapping["regexp"] = r"^5\.14\.0-427\.13\.1\.el9_4\.x86_64$"
    assert "kmm-image-tag-kernel" not in codes(lint(module))
    mapping["regexp"] = "^.+$"
    mapping["containerImage"] = "quay.io/org/kmm-ci:v1-${KERNEL_XYZ}"
    assert "kmm-image-tag-kernel" not in codes(lint(module))


def test_variable_without_braces():
    module = base_module()
    container(module)["kernelMappings"][0]["containerImage"] = "quay.io/org/$MOD_NAME:$KERNEL_FULL_VERSION"
    assert "kmm-variable-braces" in codes(lint(module), Severity.WARNING)
    container(module)["kernelMappings"][0]["containerImage"] = "quay.io/org/${MOD_NAME}:${KERNEL_FULL_VERSION}"
    assert "kmm-variable-braces" not in codes(lint(module))


@pytest.mark.parametrize("image", ["quay.io/org/m:${KERNEL_XY}", "quay.io/org/m:${KERNEL_FULL_VERSION}-$MOD_NAME_v2"])
def test_unknown_variables(image):
    module = base_module()
    container(module)["kernelMappings"][0]["containerImage"] = image
    found = [f for f in lint(module) if f.code == "kmm-variable-unknown"]
    assert found and found[0].severity is Severity.ERROR


def test_module_variables_are_not_substituted_in_files_to_sign():
    module = _signed(["/opt/lib/modules/${KERNEL_FULL_VERSION}/${MOD_NAME}.ko"])
    assert "kmm-variable-unknown" in codes(lint(module), Severity.ERROR)
    assert "kmm-variable-unknown" not in codes(lint(_signed(["/opt/lib/modules/${KERNEL_FULL_VERSION}/a.ko"])))


def test_insecure_tls_options():
    module = base_module()
    container(module)["registryTLS"] = {"insecureSkipTLSVerify": True}
    container(module)["kernelMappings"][0]["build"]["baseImageRegistryTLS"] = {"insecure": True}
    found = [f for f in lint(module) if f.code == "kmm-tls-insecure"]
    assert len(found) == 2 and all(f.severity is Severity.WARNING for f in found)
    container(module)["registryTLS"] = {"insecure": False, "insecureSkipTLSVerify": False}
    del container(module)["kernelMappings"][0]["build"]["baseImageRegistryTLS"]
    assert "kmm-tls-insecure" not in codes(lint(module))


def test_configmap_key_must_be_lower_case_dockerfile():
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kmm-ci-dockerfile"},
          "data": {"Dockerfile": DOCS_DOCKERFILE}}
    assert "kmm-configmap-key" in codes(lint_document(cm, "cm.yaml"), Severity.ERROR)
    cm["data"] = {"dockerfile": DOCS_DOCKERFILE}
    assert lint_document(cm, "cm.yaml") == []


def test_configmap_in_another_namespace():
    module = base_module()
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kmm-ci-dockerfile", "namespace": "other"},
          "data": {"dockerfile": DOCS_DOCKERFILE}}
    assert "kmm-configmap-namespace" in codes(lint_documents([("m.yaml", module), ("cm.yaml", cm)]),
                                              Severity.ERROR)
    cm["metadata"]["namespace"] = "openshift-kmm"
    assert "kmm-configmap-namespace" not in codes(lint_documents([("m.yaml", module), ("cm.yaml", cm)]))


# --- Dockerfile lints ------------------------------------------------------------------------------

def test_docs_dockerfile_is_clean():
    assert lint_dockerfile(DOCS_DOCKERFILE, "Dockerfile") == []


@pytest.mark.parametrize("change,code", [
    (lambda d: d.replace("ARG DTK_AUTO\n", ""), "kmm-dockerfile-from-arg"),
    (lambda d: d.replace("FROM registry.redhat.io/ubi8/ubi-minimal\nARG KERNEL_VERSION\n",
                         "FROM registry.redhat.io/ubi8/ubi-minimal\n"), "kmm-dockerfile-arg-scope"),
    (lambda d: d.replace("FROM registry.redhat.io/ubi8/ubi-minimal", "FROM scratch")
     .replace("RUN microdnf install kmod\n", ""), "kmm-dockerfile-final-no-shell"),
    (lambda d: d.replace("/opt/lib/modules/${KERNEL_VERSION}/", "/lib/modules/${KERNEL_VERSION}/"),
     "kmm-dockerfile-no-ko-copy"),
])
def test_dockerfile_errors(change, code):
    found = lint_dockerfile(change(DOCS_DOCKERFILE), "Dockerfile")
    assert code in codes(found, Severity.ERROR), [f.format() for f in found]


def test_dockerfile_without_depmod():
    text = DOCS_DOCKERFILE.replace("RUN depmod -b /opt ${KERNEL_VERSION}\n", "")
    assert "kmm-dockerfile-no-depmod" in codes(lint_dockerfile(text, "Dockerfile"), Severity.WARNING)


def test_dockerfile_fixed_kernel_directory():
    text = DOCS_DOCKERFILE.replace("/opt/lib/modules/${KERNEL_VERSION}/", "/opt/lib/modules/5.14.0-427.el9.x86_64/")
    assert "kmm-dockerfile-fixed-kernel-dir" in codes(lint_dockerfile(text, "Dockerfile"), Severity.WARNING)


def test_dockerfile_shell_variables_are_not_build_args():
    text = DOCS_DOCKERFILE.replace("RUN microdnf install kmod",
                                   "RUN for p in kmod; do microdnf install -y $p; done")
    assert lint_dockerfile(text, "Dockerfile") == []


def test_messages_name_the_culprit():
    module = base_module()
    container(module)["kernelMappings"][0]["regexp"] = r"^.+\el9\.x86_64$"
    finding = next(f for f in lint(module) if f.code == "kmm-regexp-re2")
    assert finding.where == "m.yaml:$.spec.moduleLoader.container.kernelMappings[0].regexp"
    assert "\\e" in finding.fix and finding.message.count(r"^.+\el9\.x86_64$") == 1


def test_configmap_findings_point_at_the_key_used():
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"},
          "data": {"Dockerfile": DOCS_DOCKERFILE.replace("RUN depmod -b /opt ${KERNEL_VERSION}\n", "")}}
    wheres = {f.where for f in lint_document(cm, "cm.yaml")}
    assert wheres == {"cm.yaml:$.data.Dockerfile"}


def test_managed_cluster_module_and_preflight():
    mcm = {"apiVersion": "hub.kmm.sigs.x-k8s.io/v1beta1", "kind": "ManagedClusterModule",
           "metadata": {"name": "kmm-ci"}, "spec": {"selector": {"name": "c1"}, "moduleSpec": base_module()["spec"]}}
    assert "kmm-mcm-spoke-namespace" in codes(lint_document(mcm, "mcm.yaml"), Severity.ERROR)
    mcm["spec"]["spokeNamespace"] = "openshift-kmm"
    assert lint_document(mcm, "mcm.yaml") == []
    mcm["spec"]["moduleSpec"]["moduleLoader"]["container"]["kernelMappings"][0]["regexp"] = "(?!x)"
    found = [f for f in lint_document(mcm, "mcm.yaml") if f.code == "kmm-regexp-re2"]
    assert found and found[0].where.startswith("mcm.yaml:$.spec.moduleSpec.moduleLoader")
    pre = {"apiVersion": "kmm.sigs.x-k8s.io/v1beta2", "kind": "PreflightValidationOCP",
           "metadata": {"name": "p"}, "spec": {}}
    assert "kmm-preflight-kernel" in codes(lint_document(pre, "p.yaml"), Severity.ERROR)
    pre["spec"]["kernelVersion"] = "5.14.0-427.13.1.el9_4.x86_64"
    assert lint_document(pre, "p.yaml") == []


def test_dockerfile_continuation_swallowing_an_instruction():
    text = DOCS_DOCKERFILE.replace("RUN microdnf install kmod\n", "RUN microdnf install kmod \\\n")
    found = [f for f in lint_dockerfile(text, "Dockerfile") if f.code == "kmm-dockerfile-continuation"]
    assert found and found[0].where == "Dockerfile:line 11"
    multi_line = DOCS_DOCKERFILE.replace("RUN microdnf install kmod\n", "RUN microdnf install \\\n    kmod\n")
    assert lint_dockerfile(multi_line, "Dockerfile") == []


def test_known_fields_are_the_real_crds():
    """The linter's field table against the real Module CRD: same fields, same required ones."""
    require_crds()
    import yaml

    from crd_schema import CRD_DIR
    from kmwizard.kmm.lint import MODULE_FIELDS

    crd = yaml.safe_load((CRD_DIR / "kmm" / "kmm.sigs.x-k8s.io_modules.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    loader = spec["properties"]["moduleLoader"]
    cont = loader["properties"]["container"]
    schemas = {"spec": spec, "moduleLoader": loader, "container": cont,
               "modprobe": cont["properties"]["modprobe"], "mapping": cont["properties"]["kernelMappings"]["items"],
               "build": cont["properties"]["build"], "sign": cont["properties"]["sign"]}
    for part, schema in schemas.items():
        known, required = MODULE_FIELDS[part]
        assert known == set(schema["properties"]), part
        assert required == set(schema.get("required") or []), part


def test_unknown_and_missing_fields():
    module = base_module()
    cont = container(module)
    cont["kernelMapings"] = cont.pop("kernelMappings")
    found = [f for f in lint(module) if f.code in ("kmm-field-unknown", "kmm-field-required")]
    assert {f.where.rsplit(".", 1)[1] for f in found} == {"kernelMapings", "kernelMappings"}
    assert "'kernelMappings'" in next(f.fix for f in found if f.code == "kmm-field-unknown")
    module = base_module()
    del container(module)["kernelMappings"][0]["containerImage"]
    container(module)["containerImage"] = "quay.io/org/kmm-ci:${KERNEL_FULL_VERSION}"
    assert "kmm-field-required" in codes(lint(module), Severity.ERROR)
    module = base_module()
    del module["spec"]["selector"]
    assert "kmm-field-required" in codes(lint(module), Severity.ERROR)
    require_crds()
    assert validate_manifest(module)  # the CRD agrees


def test_sign_needs_both_secrets():
    module = _signed(["/opt/a.ko"])
    del container(module)["sign"]["certSecret"]
    assert "kmm-field-required" in codes(lint(module), Severity.ERROR)


def test_name_length_without_a_known_version():
    module = base_module()
    module["metadata"]["name"] = "m" * (41 - len("openshift-kmm"))
    found = [f for f in lint(module) if f.code == "kmm-name-length"]
    assert found and found[0].severity is Severity.WARNING
    module["metadata"]["name"] += "m"
    assert "kmm-name-length" in codes(lint(module), Severity.ERROR)


def _type_paths(shape, path=()):
    """(path, shape) of every field in a MODULE_TYPES-like shape; list items get index 0, map values key 'k'."""
    if isinstance(shape, list):
        yield path, shape
        yield from _type_paths(shape[0], path + (0,))
    elif isinstance(shape, dict):
        if path:
            yield path, shape
        for key, sub in shape.items():
            yield from _type_paths(sub, path + ("k" if key == "*" else key,))
    else:
        yield path, shape


def _put(obj, path, value):
    for step, nxt in zip(path, path[1:]):
        if isinstance(step, int):
            while len(obj) <= step:
                obj.append({} if not isinstance(nxt, int) else [])
            obj = obj[step]
        else:
            if not isinstance(obj.get(step), (dict, list)):
                obj[step] = [] if isinstance(nxt, int) else {}
            obj = obj[step]
    if isinstance(path[-1], int):
        while len(obj) <= path[-1]:
            obj.append(None)
    obj[path[-1]] = value


def test_module_types_match_the_crd():
    import yaml

    from crd_schema import CRD_DIR
    from kmwizard.kmm.lint import MODULE_TYPES

    require_crds()
    crd = yaml.safe_load((CRD_DIR / "kmm" / "kmm.sigs.x-k8s.io_modules.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    json_type = {str: "string", int: "integer", bool: "boolean"}
    checked = 0
    for path, shape in _type_paths(MODULE_TYPES):
        schema = spec
        for step in path:
            schema = schema["items"] if isinstance(step, int) else (
                schema["additionalProperties"] if step == "k" else schema["properties"][step])
        expected = "array" if isinstance(shape, list) else "object" if isinstance(shape, dict) else json_type[shape]
        assert schema["type"] == expected, path
        checked += 1
    assert checked > 60


WRONG = {str: 5, int: "5", bool: "yes"}


@pytest.mark.parametrize("path", [p for p, _ in _type_paths(__import__("kmwizard.kmm.lint").kmm.lint.MODULE_TYPES)],
                         ids=lambda p: ".".join(map(str, p)))
def test_a_wrong_type_anywhere_is_a_finding_not_a_crash(path):
    from kmwizard.kmm.lint import MODULE_TYPES

    shape = dict(_type_paths(MODULE_TYPES))[path]
    module = base_module()
    _put(module["spec"], path, "x" if isinstance(shape, (list, dict)) else WRONG[shape])
    findings = lint(module)
    where = "$.spec" + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in path)
    assert [f.code for f in findings if f.where.endswith(where)] == ["kmm-field-type"], findings
    require_crds()
    assert validate_manifest(module), "the CRD accepts it: the shape table is wrong"


@pytest.mark.parametrize("metadata", [None, "x", {"name": 5}])
def test_module_metadata_is_checked(metadata):
    module = base_module()
    module["metadata"] = metadata
    assert codes(lint(module), Severity.ERROR) & {"kmm-name-missing", "kmm-field-type"}
    assert lint_documents([("m.yaml", module)]) is not None  # across documents too


def test_only_arg_may_come_before_the_first_from():
    """Mirrors BuildKit's frontend/dockerfile/instructions/parse.go Parse: an instruction other than ARG
    before the first FROM belongs to no stage and the build stops ("no build stage in current context").
    The tmux review edited F5's Dockerfile with a LABEL first and got no finding."""
    bad = "LABEL maintainer=me\n" + DOCS_DOCKERFILE
    found = [f for f in lint_dockerfile(bad, "Dockerfile") if f.code == "kmm-dockerfile-before-from"]
    assert [(f.severity, f.where) for f in found] == [(Severity.ERROR, "Dockerfile:line 1")]
    assert "no build stage in current context" in found[0].message
    assert DOCS_DOCKERFILE.startswith("ARG DTK_AUTO\n")  # an ARG first is allowed: the docs' own file is clean
    assert "kmm-dockerfile-before-from" not in codes(lint_dockerfile(DOCS_DOCKERFILE, "Dockerfile"))
