"""The kernel-mapping tester on real kernel strings (RHEL 8/9, x86_64 and aarch64, realtime, '+').

Expected values are written out by hand from KMM's documented rules (first match wins,
unanchored RE2, trailing '+' trimmed, envsubst of ${KERNEL_*}/${MOD_*}, build/sign merge).
"""
from __future__ import annotations

import json

import pytest

from kmwizard.cli import main
from kmwizard.kmm.kernel_match import match_kernel

RHEL8_X86 = "4.18.0-372.9.1.el8.x86_64"
RHEL8_ARM = "4.18.0-477.10.1.el8_8.aarch64"
RHEL9_X86 = "5.14.0-427.13.1.el9_4.x86_64"
RHEL9_ARM = "5.14.0-427.13.1.el9_4.aarch64"
RHEL9_RT_OLD = "5.14.0-284.11.1.rt14.296.el9_2.x86_64"   # kernel-rt before RHEL 9.3
RHEL9_RT = "5.14.0-427.13.1.el9_4.x86_64+rt"             # kernel-rt as a variant, RHEL 9.3+
RHEL9_64K = "5.14.0-427.13.1.el9_4.aarch64+64k"


def module(mappings, **container) -> dict:
    return {"apiVersion": "kmm.sigs.x-k8s.io/v1beta1", "kind": "Module",
            "metadata": {"name": "kmm-ci", "namespace": "openshift-kmm"},
            "spec": {"selector": {"node-role.kubernetes.io/worker": ""},
                     "moduleLoader": {"container": {"modprobe": {"moduleName": "kmm_ci_a"},
                                                    "kernelMappings": mappings, **container}}}}


MAPPINGS = [
    {"literal": RHEL9_X86, "containerImage": "quay.io/org/exact:${KERNEL_FULL_VERSION}"},
    {"regexp": r"^.+\.el9_\d+\.x86_64\+rt$", "containerImage": "quay.io/org/rt:${KERNEL_FULL_VERSION}"},
    {"regexp": r"^.+\.rt\d+\.\d+\.el9_\d+\.x86_64$", "containerImage": "quay.io/org/rt-old:${KERNEL_XYZ}"},
    {"regexp": r"^.+\.el9_\d+\.aarch64$", "containerImage": ""},
    {"regexp": r"el8", "containerImage": "quay.io/org/rhel8-${KERNEL_X}.${KERNEL_Y}.${KERNEL_Z}:${KERNEL_VERSION}"},
]
FALLBACK = "quay.io/org/${MOD_NAMESPACE}-${MOD_NAME}:${KERNEL_FULL_VERSION}"


@pytest.mark.parametrize("kernel,index,image", [
    (RHEL9_X86, 0, f"quay.io/org/exact:{RHEL9_X86}"),
    (RHEL9_X86 + "+", 0, f"quay.io/org/exact:{RHEL9_X86}"),        # trailing '+' trimmed before matching
    (RHEL9_RT, 1, "quay.io/org/rt:5.14.0-427.13.1.el9_4.x86_64_rt"),  # '+' is not allowed in a tag
    (RHEL9_RT_OLD, 2, "quay.io/org/rt-old:5.14.0"),
    (RHEL9_ARM, 3, f"quay.io/org/openshift-kmm-kmm-ci:{RHEL9_ARM}"),   # empty image: the container's
    (RHEL8_X86, 4, f"quay.io/org/rhel8-4.18.0:{RHEL8_X86}"),            # unanchored 'el8' matches
    (RHEL8_ARM, 4, f"quay.io/org/rhel8-4.18.0:{RHEL8_ARM}"),
])
def test_real_kernels(kernel, index, image):
    result = match_kernel(module(MAPPINGS, containerImage=FALLBACK), kernel)
    assert result.matched and result.index == index, result.format()
    assert result.image == image
    assert result.problems == []


def test_no_match_is_reported():
    result = match_kernel(module(MAPPINGS, containerImage=FALLBACK), RHEL9_64K)
    assert not result.matched and result.index is None
    assert "no mapping matches" in result.format() and "skipped silently" in result.format()


def test_first_match_wins_even_when_a_later_one_is_more_specific():
    mappings = [{"regexp": "^.+$", "containerImage": "quay.io/org/any:${KERNEL_FULL_VERSION}"},
                {"literal": RHEL9_X86, "containerImage": "quay.io/org/exact:1"}]
    assert match_kernel(module(mappings), RHEL9_X86).index == 0


def test_anchored_regexp_does_not_take_the_rt_variant():
    mappings = [{"regexp": r"^.+\.el9_4\.x86_64$", "containerImage": "quay.io/org/m:${KERNEL_FULL_VERSION}"}]
    assert match_kernel(module(mappings), RHEL9_X86).matched
    assert not match_kernel(module(mappings), RHEL9_RT).matched


def test_invalid_regexp_stops_the_search():
    mappings = [{"regexp": r"^.+\el9\.x86_64$", "containerImage": "quay.io/org/bad:1"},
                {"regexp": "^.+$", "containerImage": "quay.io/org/any:1"}]
    result = match_kernel(module(mappings), RHEL9_X86)
    assert not result.matched
    assert result.problems and "Go's regexp" in result.problems[0] and "\\e" in result.problems[0]
    # Issue 13 item 14: one true thing, not "stops at it" and then "skipped silently" as well.
    text = result.format()
    assert "Go's regexp rejects it" in text and "no mapping matches" not in text and "silently" not in text


def test_build_and_sign_merge_rules():
    container_build = {"dockerfileConfigMap": {"name": "cm-default"},
                       "buildArgs": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                       "secrets": [{"name": "s1"}]}
    container_sign = {"keySecret": {"name": "key"}, "certSecret": {"name": "cert"},
                      "filesToSign": ["/opt/lib/modules/${KERNEL_FULL_VERSION}/a.ko"]}
    mapping = {"regexp": "^.+$", "containerImage": "quay.io/org/m:${KERNEL_FULL_VERSION}",
               "build": {"dockerfileConfigMap": {"name": "cm-special"},
                         "buildArgs": [{"name": "B", "value": "override"}, {"name": "C", "value": "3"}],
                         "secrets": [{"name": "s2"}]},
               "sign": {"keySecret": {"name": "key"}, "certSecret": {"name": "other-cert"},
                        "filesToSign": ["/opt/lib/modules/${KERNEL_FULL_VERSION}/b.ko"],
                        "unsignedImage": "quay.io/org/unsigned:${KERNEL_FULL_VERSION}"}}
    result = match_kernel(module([mapping], build=container_build, sign=container_sign), RHEL9_RT)
    assert result.build == {"dockerfileConfigMap": {"name": "cm-special"},
                            "buildArgs": [{"name": "A", "value": "1"}, {"name": "B", "value": "override"},
                                          {"name": "C", "value": "3"}],
                            "secrets": [{"name": "s1"}, {"name": "s2"}]}
    # filesToSign are appended; KMM substitutes sign fields with the normalized kernel (getRelevantSign),
    # while the build gets the raw one: the paths differ, which is worth a warning.
    assert result.sign == {"keySecret": {"name": "key"}, "certSecret": {"name": "other-cert"},
                           "filesToSign": ["/opt/lib/modules/5.14.0-427.13.1.el9_4.x86_64_rt/a.ko",
                                           "/opt/lib/modules/5.14.0-427.13.1.el9_4.x86_64_rt/b.ko"],
                           "unsignedImage": "quay.io/org/unsigned:5.14.0-427.13.1.el9_4.x86_64_rt"}
    assert result.warnings and "x86_64+rt/a.ko" in result.warnings[0] and "not signed" in result.warnings[0]


def test_container_level_build_only():
    build = {"dockerfileConfigMap": {"name": "cm"}}
    result = match_kernel(module([{"regexp": "^.+$", "containerImage": "quay.io/org/m:1"}], build=build), RHEL8_ARM)
    assert result.build == build and result.sign is None


def test_managed_cluster_module_is_resolved_through_its_module_spec():
    mcm = {"apiVersion": "hub.kmm.sigs.x-k8s.io/v1beta1", "kind": "ManagedClusterModule",
           "metadata": {"name": "kmm-ci"},
           "spec": {"spokeNamespace": "spoke-ns", "selector": {"name": "c1"},
                    "moduleSpec": module([{"regexp": "^.+$", "containerImage": "q.io/o/${MOD_NAMESPACE}:${KERNEL_Y}"}])
                    ["spec"]}}
    assert match_kernel(mcm, RHEL9_ARM).image == "q.io/o/spoke-ns:14"


# --- the CLI --------------------------------------------------------------------------------

def test_cli_with_a_module_file(tmp_path, capsys):
    import yaml

    path = tmp_path / "module.yaml"
    path.write_text(yaml.safe_dump(module(MAPPINGS, containerImage=FALLBACK)))
    assert main(["kernel-match", "--kernel", RHEL9_RT, "--kernel", RHEL8_X86, str(path)]) == 0
    out = capsys.readouterr().out
    assert "mapping [1]" in out and "quay.io/org/rt:5.14.0-427.13.1.el9_4.x86_64_rt" in out
    assert main(["kernel-match", "-k", RHEL9_64K, str(path)]) == 1
    assert "no mapping matches" in capsys.readouterr().out


def test_cli_with_a_preset_as_json(capsys):
    assert main(["kernel-match", "--preset", "kmm-ci", "-k", RHEL9_X86, "-o", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    kernel = data[0]["kernels"][0]
    assert kernel["mappingIndex"] == 0
    assert kernel["image"] == f"image-registry.openshift-image-registry.svc:5000/openshift-kmm/kmm-ci:{RHEL9_X86}"
    assert kernel["build"]["dockerfileConfigMap"]["name"] == "kmm-ci-dockerfile"


def test_cli_prebuilt_preset_skips_rhel8(capsys):
    assert main(["kernel-match", "--preset", "kmm-prebuilt", "-k", RHEL9_ARM, "-k", RHEL8_X86]) == 1
    out = capsys.readouterr().out
    assert "kmm-arm64" not in out and "example-kmod-arm64:" + RHEL9_ARM in out
    assert out.count("no mapping matches") == 1


def test_cli_usage_errors(tmp_path, capsys):
    empty = tmp_path / "empty.yaml"
    empty.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    assert main(["kernel-match", "-k", RHEL9_X86, str(empty)]) == 2
    assert "no Module" in capsys.readouterr().err
    assert main(["kernel-match", "-k", RHEL9_X86, "--preset", "kmm-ci", str(empty)]) == 2
    assert main(["kernel-match", "-k", RHEL9_X86, "--set", "method=kvc"]) == 2


@pytest.mark.parametrize("kernel,x,y,z", [(RHEL8_ARM, "4", "18", "0"), (RHEL9_RT, "5", "14", "0"),
                                          ("6.8.0-31-generic", "6", "8", "0")])
def test_kernel_component_variables(kernel, x, y, z):
    mappings = [{"regexp": "^.+$", "containerImage": "q.io/o/m:${KERNEL_X}-${KERNEL_Y}-${KERNEL_Z}-${KERNEL_XYZ}"}]
    assert match_kernel(module(mappings), kernel).image == f"q.io/o/m:{x}-{y}-{z}-{x}.{y}.{z}"
