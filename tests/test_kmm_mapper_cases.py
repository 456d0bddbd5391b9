"""KMM's own kernel-mapper unit-test cases, re-expressed as kernel-match tests.

Each test says which Ginkgo spec of rh-ecosystem-edge/kernel-module-management it restates (the
data are ours, written after reading the spec): internal/module/kernelmapper_test.go,
internal/module/buildargoverrider_test.go, internal/utils/replaceStrings_test.go.  Then the
behaviour around them that the reconcilers add (one '+' trimmed, normalized variables).
"""
from __future__ import annotations

import json

import pytest

from kmwizard.cli import main
from kmwizard.kmm.kernel_match import match_kernel, merge_build, merge_sign, override_build_args
from kmwizard.kmm.variables import KernelVersionError, SubstitutionError, envsubst, kernel_variables


def module(mappings, name="kmm-ci", namespace="openshift-kmm", **container) -> dict:
    return {"apiVersion": "kmm.sigs.x-k8s.io/v1beta1", "kind": "Module",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"a": "b"}, "moduleLoader": {"container": {
                "modprobe": {"moduleName": "m"}, "kernelMappings": mappings, **container}}}}


# --- kernelmapper_test.go: findKernelMapping ------------------------------------------------

@pytest.mark.parametrize("mappings,index", [
    ([{"literal": "1.2.3", "containerImage": "q.io/o/m:1"}], 0),             # "one literal mapping"
    ([{"regexp": r"1\..*", "containerImage": "q.io/o/m:1"}], 0),             # "one regexp mapping"
    ([{"regexp": "1.2.2", "containerImage": "q.io/o/m:1"},                   # "should return an error if no
      {"regexp": r"0\..*", "containerImage": "q.io/o/m:1"}], None),          #  mapping work"
])
def test_find_kernel_mapping(mappings, index):
    result = match_kernel(module(mappings), "1.2.3")
    assert result.index == index and not result.problems


def test_find_kernel_mapping_invalid_regexp_is_an_error():
    """"should return an error if a regex is invalid" (regexp "invalid)")."""
    result = match_kernel(module([{"regexp": "invalid)", "containerImage": "q.io/o/m:1"}]), "1.2.3")
    assert not result.matched and result.problems and "invalid)" in result.problems[0]


def test_literal_then_regexp_in_one_mapping():
    """findKernelMapping compares a non-empty literal first, then tries the regexp of the same mapping."""
    both = [{"literal": "9.9.9", "regexp": r"^1\.2\.", "containerImage": "q.io/o/m:1"}]
    assert match_kernel(module(both), "1.2.3").index == 0
    assert match_kernel(module(both), "9.9.9").index == 0
    assert match_kernel(module(both), "2.0.0").index is None


# --- kernelmapper_test.go: replaceTemplates --------------------------------------------------

def test_replace_templates_error_input():
    """"error input": an unterminated ${ in containerImage fails the whole kernel."""
    result = match_kernel(module([{"regexp": ".*", "containerImage": "some image:${KERNEL_XYZ"}]),
                          "5.8.18-100.fc31.x86_64")
    assert result.matched and result.problems and "closing brace expected" in result.problems[0]
    assert main_exit(result) == 1


def main_exit(result) -> int:
    return 0 if result.matched and not result.problems else 1


def test_replace_templates_only_the_container_image():
    """"should only substitute the ContainerImage field"."""
    result = match_kernel(module([{"regexp": ".*", "containerImage": "some image:${KERNEL_XYZ}"}]),
                          "5.8.18-100.fc31.x86_64")
    assert result.image == "some image:5.8.18" and not result.problems


# --- replaceStrings_test.go ---------------------------------------------------------------

def test_kernel_components_as_env_vars():
    """KernelComponentsAsEnvVars "should work as expected" and "should fail due to invalid kernel"."""
    assert kernel_variables("6.0.15-300.fc37.x86_64") == {
        "KERNEL_FULL_VERSION": "6.0.15-300.fc37.x86_64", "KERNEL_VERSION": "6.0.15-300.fc37.x86_64",
        "KERNEL_XYZ": "6.0.15", "KERNEL_X": "6", "KERNEL_Y": "0", "KERNEL_Z": "15"}
    with pytest.raises(KernelVersionError):
        kernel_variables("test")


def test_replace_in_templates():
    """ReplaceInTemplates "should work as expected": $A, ${B}, and text without a template."""
    env = {"A": "AAA", "B": "BBB", "C": "CCC"}
    assert [envsubst(t, env) for t in ("with $A", "with ${B}", "without")] == ["with AAA", "with BBB", "without"]


@pytest.mark.parametrize("template,expected", [
    ("$$A", "$A"), ("${U:-d}", "d"), ("${E:-d}", "d"), ("${E-d}", ""), ("${U-d}", "d"), ("${A+s}", "s"),
    ("${U+s}", ""), ("${U:-$B}", "BBB"), ("$A_v2", ""), ("${}", "${}"), ("a$", "a$"), ("$-x", "$-x"),
])
def test_envsubst_operators(template, expected):
    """a8m/envsubst as KMM configures it (parse.Relaxed): unset names are empty, operators as in sh."""
    assert envsubst(template, {"A": "AAA", "B": "BBB", "E": ""}) == expected


@pytest.mark.parametrize("template", ["x:${KERNEL_XYZ", "x${A}y${", "${A\n}", "${A:-abc", "${ _", "${A:x"])
def test_envsubst_errors(template):
    with pytest.raises(SubstitutionError, match="closing brace expected") as caught:
        envsubst(template, {"A": "1"})
    assert not caught.value.hangs


@pytest.mark.parametrize("template", ["${A${_", "${A:-$_}", "q.io/o/m:${KERNEL_XYZ:-$_}"])
def test_envsubst_templates_kmms_parser_never_finishes(template):
    """Found by comparing with a8m/envsubst as KMM vendors it (built by hand, not in this repository):
    a lone $_ or ${_ inside ${NAME...} sends its lexer back to plain text, and the parser then reads
    past the end forever.  kmwizard says so instead of hanging."""
    with pytest.raises(SubstitutionError) as caught:
        envsubst(template, {"A": "1"})
    assert caught.value.hangs


@pytest.mark.parametrize("template,expected", [("${_}", "${_}"), ("$_", "$_"), ("${ A}", ""), ("${A.x}", "1"),
                                               ("${A:x}", "1"), ("${U=$A}", "1"), ("${A-x$A}", "1")])
def test_envsubst_odd_corners(template, expected):
    assert envsubst(template, {"A": "1"}) == expected


# --- kernelmapper_test.go: getRelevantBuild, getRelevantSign ---------------------------------

def test_get_relevant_build():
    """"kernel mapping build present, module loader build absent", the reverse, and "overrides"
    (the mapping's ConfigMap wins, the module's TLS options stay)."""
    mapping = {"dockerfileConfigMap": {"name": "mapping-cm"}}
    loader = {"dockerfileConfigMap": {"name": "module-cm"},
              "baseImageRegistryTLS": {"insecure": True, "insecureSkipTLSVerify": True}}
    assert merge_build(None, mapping) == mapping
    assert merge_build(loader, None) == loader
    merged = merge_build(loader, mapping)
    assert merged["dockerfileConfigMap"] == {"name": "mapping-cm"}
    assert merged["baseImageRegistryTLS"] == loader["baseImageRegistryTLS"]


FILES = ["/modules/first.ko", "/modules/second.ko"]
KEY, CERT, IMAGE = {"name": "secureboot-key"}, {"name": "secureboot-cert"}, "my.registry/my/image"
EXPECTED_SIGN = {"unsignedImage": IMAGE, "keySecret": KEY, "certSecret": CERT, "filesToSign": FILES}


@pytest.mark.parametrize("container_sign,mapping_sign", [
    (EXPECTED_SIGN, None),                                                                    # no km.Sign
    (None, EXPECTED_SIGN),                                                                    # no container.Sign
    ({"unsignedImage": IMAGE}, {"keySecret": KEY, "certSecret": CERT, "filesToSign": FILES}),  # default image
    ({"unsignedImage": IMAGE, "keySecret": KEY}, {"certSecret": CERT, "filesToSign": FILES}),
    ({"unsignedImage": IMAGE, "keySecret": KEY, "certSecret": CERT}, {"filesToSign": FILES}),
    ({"filesToSign": FILES}, {"unsignedImage": IMAGE, "keySecret": KEY, "certSecret": CERT}),  # default files
])
def test_get_relevant_sign(container_sign, mapping_sign):
    """getRelevantSign "should set fields correctly", all six entries, through kernel-match."""
    mapping = {"literal": "1.2.3", "containerImage": "q.io/o/m:1"}
    if mapping_sign:
        mapping["sign"] = mapping_sign
    extra = {"sign": container_sign} if container_sign else {}
    result = match_kernel(module([mapping], **extra), "1.2.3")
    assert result.sign == EXPECTED_SIGN
    assert merge_sign(container_sign, mapping_sign) == EXPECTED_SIGN


def test_apply_build_arg_overrides():
    """buildargoverrider_test.go "apply overrides": replaced in place, new ones appended."""
    args = [{"name": "name1", "value": "value1"}, {"name": "name2", "value": "value2"}]
    overrides = [{"name": "name1", "value": "valueOverride1"}, {"name": "overrideName2", "value": "overrideValue2"}]
    assert override_build_args(args, overrides) == [
        {"name": "name1", "value": "valueOverride1"}, {"name": "name2", "value": "value2"},
        {"name": "overrideName2", "value": "overrideValue2"}]
    # unused overrides come sorted by name (sets.List), the last of a repeated name wins
    assert override_build_args([], [{"name": "b", "value": "1"}, {"name": "a", "value": "2"},
                                    {"name": "b", "value": "3"}]) == [{"name": "a", "value": "2"},
                                                                      {"name": "b", "value": "3"}]


# --- kernelmapper_test.go: prepareModuleLoaderData, in-tree modules --------------------------

@pytest.mark.parametrize("in_container,in_mapping,expected", [
    (False, False, []), (True, False, ["in-container"]), (False, True, ["in-mapping"]), (True, True, ["in-mapping"]),
])
def test_in_tree_module_to_remove(in_container, in_mapping, expected):
    """"prepare InTreeModules based on InTreeModule": the deprecated singular, mapping over container."""
    mapping = {"literal": "1.2.3", "containerImage": "q.io/o/m:1"}
    if in_mapping:
        mapping["inTreeModuleToRemove"] = "in-mapping"
    extra = {"inTreeModuleToRemove": "in-container"} if in_container else {}
    assert match_kernel(module([mapping], **extra), "1.2.3").in_tree_modules_to_remove == expected


# --- what the reconcilers add around the mapper ----------------------------------------------

@pytest.mark.parametrize("node_kernel,matched", [
    ("5.14.0-1.el9.x86_64+", "5.14.0-1.el9.x86_64"),     # strings.TrimSuffix(kernelVersion, "+")
    ("5.14.0-1.el9.x86_64++", "5.14.0-1.el9.x86_64+"),   # exactly one '+'
    ("5.14.0-1.el9.aarch64+64k", "5.14.0-1.el9.aarch64+64k"),
])
def test_one_trailing_plus_is_trimmed(node_kernel, matched):
    result = match_kernel(module([{"regexp": "^.+$", "containerImage": "q.io/o/m:${KERNEL_FULL_VERSION}"}]),
                          node_kernel)
    assert result.matched_kernel == matched
    assert result.image == "q.io/o/m:" + matched.replace("+", "_")   # variables from the normalized kernel


def test_variables_come_from_the_normalized_kernel():
    """replaceTemplates and getRelevantSign use kernel.NormalizeVersion(kernel); KERNEL_X/Y/Z too."""
    mappings = [{"regexp": "^.+$", "containerImage": "q.io/o/${MOD_NAMESPACE}-${MOD_NAME}:${KERNEL_XYZ}-${KERNEL_Z}"}]
    result = match_kernel(module(mappings), "6.8+x.1-31-generic")
    assert result.image == "q.io/o/openshift-kmm-kmm-ci:6.8_x.1-1"


def test_kernel_with_fewer_than_three_fields_is_an_error_for_that_kernel():
    result = match_kernel(module([{"regexp": "^.+$", "containerImage": "q.io/o/m:1"}]), "6.8")
    assert result.matched and "at least three components" in result.problems[0]


def test_build_args_kmm_injects_override_the_users():
    """internal/buildsign/resource/common.go buildSpec: KERNEL_VERSION and KERNEL_FULL_VERSION are the
    raw (trimmed) kernel, MOD_NAME and MOD_NAMESPACE the Module's; they replace the user's."""
    build = {"dockerfileConfigMap": {"name": "cm"}, "buildArgs": [{"name": "KERNEL_VERSION", "value": "mine"},
                                                                  {"name": "OTHER", "value": "x"}]}
    result = match_kernel(module([{"regexp": "^.+$", "containerImage": "q.io/o/m:1"}], build=build),
                          "5.14.0-1.el9.aarch64+64k")
    assert result.build_args == [{"name": "KERNEL_VERSION", "value": "5.14.0-1.el9.aarch64+64k"},
                                 {"name": "OTHER", "value": "x"},
                                 {"name": "KERNEL_FULL_VERSION", "value": "5.14.0-1.el9.aarch64+64k"},
                                 {"name": "MOD_NAME", "value": "kmm-ci"},
                                 {"name": "MOD_NAMESPACE", "value": "openshift-kmm"}]
    assert result.build == build  # the Module's build as KMM merges it, before the injection


def test_sign_paths_differ_from_the_build_on_64k_kernels():
    sign = {"keySecret": {"name": "k"}, "certSecret": {"name": "c"},
            "filesToSign": ["/opt/lib/modules/${KERNEL_FULL_VERSION}/m.ko"]}
    build = {"dockerfileConfigMap": {"name": "cm"}}
    mappings = [{"regexp": "^.+$", "containerImage": "q.io/o/m:${KERNEL_FULL_VERSION}"}]
    result = match_kernel(module(mappings, build=build, sign=sign), "5.14.0-1.el9.aarch64+64k")
    assert result.sign["filesToSign"] == ["/opt/lib/modules/5.14.0-1.el9.aarch64_64k/m.ko"]
    assert result.warnings and "+64k/m.ko" in result.warnings[0]
    plain = match_kernel(module(mappings, build=build, sign=sign), "5.14.0-1.el9.x86_64")
    assert plain.warnings == []


def test_json_fields_stay(tmp_path, capsys):
    import yaml

    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(module([{"regexp": "^.+$", "containerImage": "q.io/o/m:${KERNEL_X}"}])))
    assert main(["kernel-match", "-k", "5.14.0-1.el9.x86_64", "-k", "6.8", "-o", "json", str(path)]) == 1
    data = json.loads(capsys.readouterr().out)
    first, second = data[0]["kernels"]
    assert {"matched", "mappingIndex", "image", "build", "sign", "inTreeModulesToRemove", "registryTLS",
            "kernel", "matchedKernel", "problems"} <= set(first)
    assert first["matched"] and first["image"] == "q.io/o/m:5" and second["problems"]


def test_dtk_auto_when_the_dockerfile_names_it():
    """buildSpec adds DTK_AUTO only when the Dockerfile text contains it (strings.Contains)."""
    build = {"dockerfileConfigMap": {"name": "cm"}}
    m = module([{"regexp": "^.+$", "containerImage": "q.io/o/m:1"}], build=build)
    with_dtk = match_kernel(m, "5.14.0-1.el9.x86_64", {"cm": "ARG DTK_AUTO\nFROM ${DTK_AUTO}\n"})
    # appended with KMM's other unused overrides, sorted by name (sets.List)
    assert [a["name"] for a in with_dtk.build_args] == ["DTK_AUTO", "KERNEL_FULL_VERSION", "KERNEL_VERSION",
                                                        "MOD_NAME", "MOD_NAMESPACE"]
    without = match_kernel(m, "5.14.0-1.el9.x86_64", {"cm": "FROM ubi9\n"})
    assert "DTK_AUTO" not in [a["name"] for a in without.build_args]


def test_cli_reads_the_dockerfile_next_to_the_module(tmp_path, capsys):
    import yaml

    build = {"dockerfileConfigMap": {"name": "cm"}}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
          "data": {"dockerfile": "ARG DTK_AUTO\nFROM ${DTK_AUTO}\n"}}
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump_all([module([{"regexp": "^.+$", "containerImage": "q.io/o/m:1"}], build=build), cm]))
    assert main(["kernel-match", "-k", "5.14.0-1.el9.x86_64", "-o", "json", str(path)]) == 0
    args = json.loads(capsys.readouterr().out)[0]["kernels"][0]["buildArgs"]
    assert args[0]["name"] == "DTK_AUTO" and "5.14.0-1.el9.x86_64" in args[0]["value"]


def test_cli_namespace_for_a_module_without_one(tmp_path, capsys):
    """MOD_NAMESPACE is mod.Namespace: the namespace the file is applied in."""
    import yaml

    m = module([{"regexp": "^.+$", "containerImage": "q.io/${MOD_NAMESPACE}/m:1"}])
    del m["metadata"]["namespace"]
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(m))
    assert main(["kernel-match", "-k", "5.14.0-1.el9.x86_64", str(path)]) == 0
    assert "q.io/default/m:1" in capsys.readouterr().out
    assert main(["kernel-match", "-k", "5.14.0-1.el9.x86_64", "-n", "drivers", str(path)]) == 0
    assert "q.io/drivers/m:1" in capsys.readouterr().out
