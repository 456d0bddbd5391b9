"""`validate` judges a MachineConfig per OpenShift release.  Each case names the MCO code (branch and
function of github.com/openshift/machine-config-operator) whose decision it mirrors."""
from __future__ import annotations

import copy
import json

import pytest

from kmwizard.cli import main
from kmwizard.findings import Severity
from kmwizard.kvc import releases
from apiserver_double import apiserver_factory  # noqa: F401 (fixture)
from kmwizard.kvc.lint import lint_machineconfig

DOC = "mc.yaml"


def _mc(version="3.2.0", files=(), units=(), **spec) -> dict:
    config = {"ignition": {"version": version}, "storage": {"files": list(files)},
              "systemd": {"units": list(units)}}
    return {"apiVersion": "machineconfiguration.openshift.io/v1", "kind": "MachineConfig",
            "metadata": {"name": "99-worker-x", "labels": {"machineconfiguration.openshift.io/role": "worker"}},
            "spec": {"config": config, **spec}}


def _file(path="/etc/x.conf", mode=0o644, source="data:,x", **extra) -> dict:
    return {"path": path, "mode": mode, "overwrite": True, "contents": {"source": source, **extra}}


def findings(mc, release=None, code=None):
    found = lint_machineconfig(mc, where=DOC, openshift_version=release)
    return [f for f in found if code is None or f.code == code]


def severities(mc, release, code):
    return {f.severity for f in findings(mc, release, code)}


# --- spec versions: pkg/controller/common/helpers.go IgnParseWrapper per release branch -------------

@pytest.mark.parametrize("version, release, parsed", [
    ("3.1.0", "4.6", True), ("3.2.0", "4.6", False),        # release-4.6: ign3 v3_1 Parse
    ("3.2.0", "4.12", True), ("3.3.0", "4.12", False),      # release-4.7..4.12: v3_2 ParseCompatibleVersion
    ("3.4.0", "4.13", True), ("3.5.0", "4.18", False),      # release-4.13..4.18: ign3_4.ParseCompatibleVersion
    ("3.5.0", "4.19", True), ("3.5.0", "4.23", True),       # release-4.19+: ign3_5
    ("3.6.0", "4.23", False),
    ("2.2.0", "4.6", True), ("2.2.0", "4.23", True),        # ign2 (v2_2) Parse, then convertIgnition2to3
])
def test_spec_version_per_release(version, release, parsed):
    found = findings(_mc(version), release, "ign-version")
    assert (not found) == parsed, [f.format() for f in found]
    if found:
        assert found[0].severity is Severity.ERROR and version in found[0].message and release in found[0].message


def test_spec_2_2_is_translated_not_rejected():
    mc = _mc("2.2.0", files=[{"path": "/etc/x", "filesystem": "root", "mode": 420,
                              "contents": {"source": "data:,x"}}])
    found = findings(mc)
    assert not [f for f in found if f.severity is not Severity.INFO], [f.format() for f in found]
    assert [f.code for f in found] == ["ign-version-2"]


def test_no_release_parses_3_6_and_the_assumption_is_named():
    found = findings(_mc("3.6.0"), None, "ign-version")
    assert found[0].severity is Severity.ERROR
    assert "no release up to 4.23 parses it" in found[0].message and "judged for 4.6-4.23" in found[0].message
    some = findings(_mc("3.4.0"), None, "ign-version")
    assert some[0].severity is Severity.WARNING and "4.6-4.12" in some[0].message
    assert "fine on OpenShift 4.13-4.23" in some[0].message


# --- gzip: the daemon's writeFiles before release-4.10 (BZ 1970218) -----------------------------------

def test_gzip_before_4_10():
    mc = _mc(files=[_file(source="data:;base64,H4sIAAAAAAAA/8tIzcnJBwCGphA2BQAAAA==", compression="gzip")])
    assert severities(mc, "4.9", "mco-gzip-old") == {Severity.ERROR}
    assert severities(mc, "4.10", "mco-gzip-old") == set()
    assert severities(mc, None, "mco-gzip-old") == {Severity.WARNING}


# --- spec.kernelType / spec.extensions: helpers.go ValidateMachineConfig, validateExtensions ----------

def test_kernel_type_per_release():
    assert severities(_mc(kernelType="rt"), "4.14", "mco-kernel-type") == {Severity.ERROR}
    assert severities(_mc(kernelType="rt"), None, "mco-kernel-type") == {Severity.ERROR}
    # KernelType64kPages exists from release-4.15
    assert severities(_mc(kernelType="64k-pages"), "4.14", "mco-kernel-type") == {Severity.ERROR}
    assert severities(_mc(kernelType="64k-pages"), "4.15", "mco-kernel-type") == set()
    assert severities(_mc(kernelType="realtime"), "4.6", "mco-kernel-type") == set()


@pytest.mark.parametrize("ext, release, ok", [
    ("kernel-devel", "4.6", True), ("sandboxed-containers", "4.7", False), ("sandboxed-containers", "4.8", True),
    ("kerberos", "4.10", False), ("kerberos", "4.11", True),            # daemon/update.go getSupportedExtensions
    ("ipsec", "4.13", False), ("wasm", "4.14", True), ("wasm", "4.21", True),
    ("wasm", "4.22", False), ("sysstat", "4.17", False), ("sysstat", "4.18", True),   # helpers.go SupportedExtensions
    ("two-node-ha", "4.19", True), ("kernel-devl", "4.19", False),
])
def test_extensions_per_release(ext, release, ok):
    found = findings(_mc(extensions=[ext]), release, "mco-extensions")
    assert (not found) == ok
    if found:
        assert ext in found[0].message and "kernel-devel" in found[0].fix


# --- the force file: reconcilable ("cannot create %s via Ignition", release-4.12+) --------------------

def test_force_file():
    mc = _mc(files=[_file(path="/run/machine-config-daemon-force")])
    assert severities(mc, "4.12", "mco-force-file") == {Severity.ERROR}
    assert severities(mc, "4.11", "mco-force-file") == {Severity.WARNING}
    assert severities(mc, "4.23", "mco-force-file") == {Severity.ERROR}


# --- mode bits: helpers.go validateIgn3FileModes (release-4.10+) and, from release-4.13, the 3.3->3.4
# translation in IgnParseWrapper that clears setuid/setgid/sticky before the check ---------------------

@pytest.mark.parametrize("spec, release, outcome", [
    ("3.2.0", "4.9", "dropped"), ("3.2.0", "4.10", "rejected"), ("3.2.0", "4.12", "rejected"),
    ("3.2.0", "4.13", "dropped"), ("3.3.0", "4.16", "dropped"), ("3.4.0", "4.14", "rejected"),
    ("3.5.0", "4.20", "rejected"),
])
def test_special_mode_bits_per_spec_and_release(spec, release, outcome):
    mc = _mc(spec, files=[_file(path="/usr/local/bin/suid", mode=0o4755)])
    if outcome == "dropped":
        found = findings(mc, release, "mco-mode-dropped")
        assert found[0].severity is Severity.WARNING and "lands 0o755" in found[0].message
        assert not findings(mc, release, "mco-mode")
    else:
        found = findings(mc, release, "mco-mode")
        assert found[0].severity is Severity.ERROR and "/usr/local/bin/suid" in found[0].message


def test_special_mode_without_release_is_an_error_no_release_writes_it():
    mc = _mc("3.2.0", files=[_file(path="/usr/local/bin/suid", mode=0o4755)])
    found = [f for f in findings(mc) if f.code in ("mco-mode", "mco-mode-dropped")]
    assert len(found) == 1 and found[0].severity is Severity.ERROR
    assert "4.10-4.12" in found[0].message and "lands 0o755" in found[0].message


# --- the table itself -----------------------------------------------------------------------------

def test_release_table_edges():
    assert [releases.rhel_major(m) for m in (12, 13)] == [8, 9]
    assert releases.spans([6, 7, 8, 9, 13, 20, 21]) == "4.6-4.9, 4.13, 4.20-4.21"
    assert releases.ignition3_versions(23)[-1] == "3.5.0"


# --- the command ------------------------------------------------------------------------------------

def test_validate_command_takes_the_release(tmp_path, capsys):
    path = tmp_path / "mc.json"
    path.write_text(json.dumps(_mc("3.4.0")))
    assert main(["validate", "--openshift-version", "4.14", str(path)]) == 0
    assert main(["validate", "--openshift-version", "4.12", str(path)]) == 1
    err = capsys.readouterr().err
    assert "3.4.0 is not parsed" in err and "(OpenShift 4.12)" in err
    assert main(["validate", str(path)]) == 0          # parsed by 4.13+: a warning naming 4.6-4.12
    assert "4.6-4.12" in capsys.readouterr().err
    assert main(["validate", "--openshift-version", "5.1", str(path)]) == 2
    assert "openshift_version '5.1'" in capsys.readouterr().err


def test_hand_written_day2_instance_on_4_20(tmp_path, capsys):
    mc = _mc("3.5.0", units=[{"name": "kmods-via-containers@simple-kmod.service", "enabled": True}])
    path = tmp_path / "mc.yaml"
    path.write_text(json.dumps(mc))
    assert main(["validate", "--openshift-version", "4.20", str(path)]) == 1
    assert "never enabled" in capsys.readouterr().err
    assert main(["validate", "--openshift-version", "4.19", str(path)]) == 0
    fixed = copy.deepcopy(mc)
    fixed["spec"]["config"]["systemd"]["units"] = [{"name": "require-kvc-simple-kmod.service", "enabled": True,
                                                    "contents": "[Unit]\nRequires=kmods-via-containers@simple-kmod"
                                                                ".service\n[Install]\nWantedBy=multi-user.target\n"}]
    path.write_text(json.dumps(fixed))
    assert main(["validate", "--openshift-version", "4.20", str(path)]) == 0


# --- the KVC instance conf inside the MachineConfig: the rules generate applies ------------------------

def _kvc_mc(conf: str, *extra_files) -> dict:
    from urllib.parse import quote
    files = [_file(path="/etc/kvc/simple-kmod.conf", source="data:," + quote(conf)), *extra_files]
    unit = {"name": "require-kvc-simple-kmod.service", "enabled": True,
            "contents": "[Unit]\nRequires=kmods-via-containers@simple-kmod.service\n[Install]\nWantedBy=multi-user.target\n"}
    return _mc("3.2.0", files=files, units=[unit])


GOOD_CONF = ('KMOD_CONTAINER_BUILD_CONTEXT="https://github.com/kmods-via-containers/kvc-simple-kmod.git"\n'
             "KMOD_CONTAINER_BUILD_FILE=/etc/kvc/simple-kmod-build/Dockerfile\nKMOD_SOFTWARE_VERSION=dd1a7d4\n"
             'KMOD_NAMES="simple-kmod simple-procfs-kmod"\n')


def _dockerfile(image: str) -> dict:
    from urllib.parse import quote
    return _file(path="/etc/kvc/simple-kmod-build/Dockerfile",
                 source="data:," + quote(f"FROM {image}\nRUN yum -y install kernel-devel-$KVER\n"))


def test_conf_rules_apply_to_the_conf_in_a_machineconfig():
    clean = _kvc_mc(GOOD_CONF, _dockerfile("registry.access.redhat.com/ubi9/ubi"))
    assert not [f for f in findings(clean, "4.14") if f.severity is not Severity.INFO]
    build_line = "KMOD_CONTAINER_BUILD_FILE=/etc/kvc/simple-kmod-build/Dockerfile"
    url = '"https://github.com/kmods-via-containers/kvc-simple-kmod.git"'
    cases = [  # (conf, culprit named, code): instance.check_conf, the rules generate applies
        (GOOD_CONF.replace(build_line, "KMOD_CONTAINER_BUILD_FILE=Dockerfile.fedora"), "Dockerfile.fedora",
         "kvc-conf-build-file"),
        (GOOD_CONF.replace('KMOD_NAMES="simple-kmod simple-procfs-kmod"\n', ""), "KMOD_NAMES", "kvc-conf-key"),
        (GOOD_CONF.replace(url, "ssh://git@github.com/x/y.git"), "ssh://", "kvc-conf-context"),
    ]
    for conf, culprit, code in cases:
        found = [f for f in findings(_kvc_mc(conf), "4.14", code) if f.severity is Severity.ERROR]
        assert found and culprit in found[0].message and "/etc/kvc/simple-kmod.conf" in found[0].message, code
        assert found[0].where.endswith(".storage.files[0]")
    # a build file the config does not deliver: the build fails unless every node has it
    assert findings(_kvc_mc(GOOD_CONF), "4.14", "kvc-conf-build-file")[0].severity is Severity.WARNING


def test_conf_of_an_instance_nothing_starts_is_not_judged():
    mc = _kvc_mc("NOT_A_KVC_CONF=1\n")
    mc["spec"]["config"]["systemd"]["units"] = []
    assert not [f for f in findings(mc, "4.14") if f.code.startswith("kvc-")]


def test_build_file_base_image_per_release():
    """RHCOS: RHEL 8 up to 4.12, RHEL 9 from 4.13 (upstream Dockerfile.rhel is FROM ubi8)."""
    mc = _kvc_mc(GOOD_CONF, _dockerfile("registry.access.redhat.com/ubi8:latest"))
    assert severities(mc, "4.12", "kvc-build-rhel") == set()
    found = findings(mc, "4.13", "kvc-build-rhel")
    assert found[0].severity is Severity.ERROR and "ubi8" in found[0].message and "RHEL 9" in found[0].message
    assert severities(mc, None, "kvc-build-rhel") == {Severity.WARNING}
    assert "4.13-4.23" in findings(mc, None, "kvc-build-rhel")[0].message


# --- with --kubeconfig: the cluster's release (ClusterVersion, read by cluster/discovery.py) ------------

def test_validate_judges_for_the_cluster_release(apiserver_factory, tmp_path, capsys):
    from apiserver_double import DEFAULT_CRDS

    double = apiserver_factory(crds=DEFAULT_CRDS | {"clusterversions"})
    double.put({"apiVersion": "config.openshift.io/v1", "kind": "ClusterVersion", "metadata": {"name": "version"},
                "spec": {"clusterID": "0b6c5a3e-0000-4000-8000-000000000000"},
                "status": {"desired": {"version": "4.12.30"},
                           "history": [{"state": "Completed", "version": "4.12.30"}]}})
    path = tmp_path / "mc.json"
    path.write_text(json.dumps(_mc("3.4.0")))
    kc = ["--kubeconfig", str(double.kubeconfig_path)]
    assert main(["validate", *kc, str(path)]) == 1          # 4.12 does not parse 3.4.0
    err = capsys.readouterr().err
    assert "judged for the cluster's OpenShift 4.12 (4.12.30)" in err and "(OpenShift 4.12)" in err
    assert main(["validate", *kc, "--openshift-version", "4.14", str(path)]) == 0   # the flag wins, said
    assert "the cluster runs OpenShift 4.12.30" in capsys.readouterr().err
