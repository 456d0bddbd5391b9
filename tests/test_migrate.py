"""`kmwizard migrate`: KVC (answers, or the docs' hand-made MachineConfig) -> a KMM Module and Dockerfile
ConfigMap that pass the KMM checks (`kmwizard validate`, the real CRD schemas), resolve for RHEL 8 and RHEL 9
kernels (`kmwizard kernel-match`, which mirrors KMM's internal/module kernel mapper), with the switch-over
steps in a safe order and what cannot move listed."""
from __future__ import annotations

import pytest
import yaml

from apiserver_double import apiserver, apiserver_factory  # noqa: F401
from crd_schema import validate_manifest
from docs_machineconfig import docs_machineconfig
from kmwizard.cli import main
from kvc_fixtures import private_cache, repos  # noqa: F401 - repos, private_cache: fixtures

EL8 = "4.18.0-372.9.1.el8.x86_64"
EL9 = "5.14.0-427.13.1.el9_4.x86_64"


def _kvc(repos, *sets):
    args = ["--set", f"kvc.framework_repo={repos.framework}", "--set", f"kvc.module_repo={repos.module}"]
    for item in sets:
        args += ["--set", item]
    return args


def _load(path):
    return yaml.safe_load(path.read_text())


def test_kvc_answers_migrate_to_a_module_that_passes_the_kmm_checks(repos, tmp_path, capsys):
    out = tmp_path / "kmm"
    assert main(["migrate", *_kvc(repos), "-o", str(out), "--kernel", EL8, "--kernel", EL9]) == 0
    module, configmap = _load(out / "module-simple-kmod.yaml"), _load(out / "configmap-simple-kmod-dockerfile.yaml")
    container = module["spec"]["moduleLoader"]["container"]
    # KMOD_NAMES="simple-kmod simple-procfs-kmod" of the fixture's instance conf
    assert container["modprobe"]["moduleName"] == "simple-kmod"
    assert container["modprobe"]["modulesLoadingOrder"] == ["simple-kmod", "simple-procfs-kmod"]
    assert module["spec"]["selector"] == {"node-role.kubernetes.io/worker": ""}
    assert [m["literal"] for m in container["kernelMappings"]] == [EL8, EL9]
    dockerfile = configmap["data"]["dockerfile"]
    assert "FROM ${DTK_AUTO} as builder" in dockerfile  # the Driver Toolkit: no entitlement needed
    # the repository the KVC Dockerfile clones, at KMOD_SOFTWARE_VERSION (what its build checks out)
    assert '["git", "clone", "https://github.com/kmods-via-containers/simple-kmod.git"' in dockerfile
    assert '"checkout", "dd1a7d4"]' in dockerfile
    for obj in (module, configmap):
        assert validate_manifest(obj) == []
    capsys.readouterr()
    assert main(["validate", str(out / "module-simple-kmod.yaml"), str(out / "configmap-simple-kmod-dockerfile.yaml")]) == 0
    assert "0 error(s), 0 warning(s)" in capsys.readouterr().err
    assert main(["kernel-match", str(out / "module-simple-kmod.yaml"), "-k", EL8, "-k", EL9]) == 0
    text = capsys.readouterr().out
    assert f"simple-kmod:{EL8}" in text and f"simple-kmod:{EL9}" in text


def test_without_kernels_one_mapping_takes_every_kernel(repos, tmp_path, capsys):
    out = tmp_path / "kmm"
    assert main(["migrate", *_kvc(repos, "role=master"), "-o", str(out), "--kmm-version", "2.4"]) == 0
    module = _load(out / "module-simple-kmod.yaml")
    assert module["spec"]["moduleLoader"]["container"]["kernelMappings"] == [
        {"regexp": "^.+$", "containerImage": ""}]
    assert module["spec"]["selector"] == {"node-role.kubernetes.io/master": ""}
    assert main(["kernel-match", str(out / "module-simple-kmod.yaml"), "-k", EL8, "-k", EL9]) == 0


def test_steps_never_leave_a_node_without_its_module(repos, tmp_path, capsys):
    out = tmp_path / "kmm"
    assert main(["migrate", *_kvc(repos), "-o", str(out)]) == 0
    steps = (out / "MIGRATION.md").read_text()
    apply_at, verify_at = steps.index("1. Apply the KMM objects"), steps.index("2. Verify KMM")
    delete_at = steps.index("3. Delete the KVC MachineConfig: oc delete machineconfig 99-worker-kvc-simple-kmod")
    assert apply_at < verify_at < delete_at < steps.index("4. After the pool is updated")
    assert "reboots each node of the worker pool" in steps
    left = steps.split("## Not migrated automatically")[1]
    assert "/usr/local/bin/spkut: a userspace wrapper" in left
    assert "/usr/local/share/simple-kmod/data/blob.bin" in left
    assert "/etc/kvc/simple-kmod.conf" not in left  # carried over: names, sources, version


def test_the_docs_machineconfig_needs_the_source_repository_named(repos, tmp_path, capsys):
    mc_file = tmp_path / "99-simple-kmod.yaml"
    mc_file.write_text(yaml.safe_dump(docs_machineconfig(repos, tmp_path / "docs")))
    out = tmp_path / "kmm"
    assert main(["migrate", str(mc_file), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "error: --source-repo:" in err and "git://github.com/kmods-via-containers/kvc-simple-kmod.git" in err
    assert not out.exists()
    assert main(["migrate", str(mc_file), "-o", str(out), "--source-repo",
                 "https://github.com/kmods-via-containers/simple-kmod.git", "--kernel", EL9]) == 0
    steps = (out / "MIGRATION.md").read_text()
    assert "oc delete machineconfig 10-kvc-simple-kmod" in steps
    module = _load(out / "module-simple-kmod.yaml")
    assert validate_manifest(module) == []


def test_boot_module_config_offered_for_kmm_2_5_on_openshift_4_20(repos, tmp_path, capsys):
    """The BootModuleConfig names a MachineConfig that KMM creates and fills (kernel-module-management
    internal/controllers bmc reconciler handleMachineConfig: CreateOrPatch; internal/mcfg UpdateMachineConfig
    sets the role label from machineConfigPoolName), so it gets a name of its own, not the KVC one."""
    out = tmp_path / "kmm"
    assert main(["migrate", *_kvc(repos, "openshift_version=4.20"), "-o", str(out), "--kmm-version", "2.5",
                 "--kernel", EL9]) == 0
    bmc = _load(out / "bootmoduleconfig-simple-kmod.yaml")
    assert validate_manifest(bmc) == []  # the real BootModuleConfig CRD
    assert bmc["spec"] == {
        "kernelModuleImage": f"image-registry.openshift-image-registry.svc:5000/openshift-kmm/simple-kmod:{EL9}",
        "kernelModuleName": "simple-kmod", "machineConfigName": "99-worker-kmm-simple-kmod",
        "machineConfigPoolName": "worker"}
    assert "can load the module at boot like KVC" in capsys.readouterr().err


def test_no_boot_module_config_before_kmm_2_5_and_it_says_why(repos, tmp_path, capsys):
    out = tmp_path / "kmm"
    assert main(["migrate", *_kvc(repos, "openshift_version=4.16"), "-o", str(out)]) == 0
    assert not list(out.glob("bootmoduleconfig-*"))
    assert "no BootModuleConfig (it needs KMM 2.5+ on OpenShift 4.20+)" in capsys.readouterr().err


def test_the_entitlement_choice_carries_over(repos, tmp_path, capsys):
    out = tmp_path / "kmm"
    assert main(["migrate", *_kvc(repos, "entitlement.source=yum-repo",
                                  "entitlement.yum_repo=https://repo.example.com/rhel9/"), "-o", str(out)]) == 0
    answers = _load(out / "answers.yaml")
    assert answers["entitlement"] == {"source": "yum-repo", "yum_repo": "https://repo.example.com/rhel9/"}
    assert "https://repo.example.com/rhel9/" in (out / "Dockerfile").read_text()


def test_a_conf_without_kmod_names_is_named(tmp_path, capsys):
    root = tmp_path / "fakeroot"
    (root / "etc/kvc").mkdir(parents=True)
    (root / "etc/kvc/m.conf").write_text("KMOD_CONTAINER_BUILD_CONTEXT=/x\nKMOD_SOFTWARE_VERSION=1\n")
    assert main(["migrate", "--set", f"kvc.fakeroot={root}", "--set", "kvc.module_name=m", "-o",
                 str(tmp_path / "o"), "--source-repo", "https://example.com/m.git"]) == 1
    err = capsys.readouterr().err
    assert "error: /etc/kvc/m.conf:KMOD_NAMES:" in err and "nothing was written" in err


def test_kmm_answers_are_refused_naming_the_method(tmp_path, capsys):
    assert main(["migrate", "--preset", "kmm-ci", "-o", str(tmp_path / "o")]) == 1
    assert "error: method: migrate reads KVC answers" in capsys.readouterr().err


@pytest.fixture
def cluster_with_nodes(apiserver):
    for name, kernel, role in (("w1", EL9, "worker"), ("w2", EL9, "worker"), ("w3", EL8, "worker"),
                               ("m1", "5.14.0-1.el9.x86_64", "master")):
        apiserver.put({"apiVersion": "v1", "kind": "Node",
                       "metadata": {"name": name, "labels": {f"node-role.kubernetes.io/{role}": ""}},
                       "status": {"nodeInfo": {"kernelVersion": kernel}}})
    return apiserver


def test_the_kernels_the_pool_runs_become_literal_mappings(cluster_with_nodes, repos, tmp_path, capsys):
    out = tmp_path / "kmm"
    writes = len([r for r in cluster_with_nodes.requests if r.method != "GET"])
    assert main(["migrate", *_kvc(repos), "-o", str(out), "--kernels-from-cluster", "--kubeconfig",
                 str(cluster_with_nodes.kubeconfig_path)]) == 0
    assert len([r for r in cluster_with_nodes.requests if r.method != "GET"]) == writes
    mappings = _load(out / "module-simple-kmod.yaml")["spec"]["moduleLoader"]["container"]["kernelMappings"]
    assert sorted(m["literal"] for m in mappings) == sorted([EL9, EL8])


def test_a_machineconfig_read_from_the_cluster_migrates(apiserver, repos, tmp_path, capsys):
    from kmwizard.answers import Answers
    from kmwizard.cluster import engine
    from kmwizard.render import render

    mc = render(Answers({"method": "kvc", "kvc.framework_repo": str(repos.framework),
                         "kvc.module_repo": str(repos.module)})).manifests[0]
    with engine.connect(str(apiserver.kubeconfig_path)) as conn:
        assert engine.apply(conn, [mc]).ok
    writes = len([r for r in apiserver.requests if r.method != "GET"])
    out = tmp_path / "kmm"
    assert main(["migrate", "--from-cluster", "machineconfig/99-worker-kvc-simple-kmod", "-o", str(out),
                 "--kubeconfig", str(apiserver.kubeconfig_path), "--openshift-version", "4.16",
                 "--source-repo", "https://github.com/kmods-via-containers/simple-kmod.git"]) == 0
    assert len([r for r in apiserver.requests if r.method != "GET"]) == writes
    assert _load(out / "answers.yaml")["openshift_version"] == "4.16"
    assert "oc delete machineconfig 99-worker-kvc-simple-kmod" in (out / "MIGRATION.md").read_text()


def test_a_bad_openshift_version_is_named(repos, tmp_path, capsys):
    assert main(["migrate", *_kvc(repos), "-o", str(tmp_path / "o"), "--openshift-version", "4.x"]) == 1
    assert "openshift_version" in capsys.readouterr().err


@pytest.mark.parametrize("dockerfile, ref", [
    ("RUN git clone https://example.com/m.git\nWORKDIR /build/m\nRUN git checkout ${KMODVER} && make all\n", "7.1"),
    ("RUN git clone -b stable https://example.com/m.git && cd m && make modules\n", "stable"),
    ("RUN git clone https://example.com/m.git && cd m && make\n", "HEAD"),
])
def test_the_source_ref_is_what_the_kvc_build_checks_out(dockerfile, ref):
    from kmwizard.migrate import KvcFacts, _sources

    facts = KvcFacts(module_name="m", role="worker", openshift_version="4.14", mc_name="x",
                     conf={"KMOD_SOFTWARE_VERSION": "7.1", "KMOD_NAMES": "m"}, tree={}, dockerfile=dockerfile)
    repo, got, _target, problem = _sources(facts, None, None)
    assert (repo, got, problem) == ("https://example.com/m.git", ref, None)


@pytest.mark.parametrize("special", ["proc-link", "fifo"])
def test_a_tree_file_that_is_not_a_regular_file_is_an_error_not_read(tmp_path, capsys, monkeypatch, special):
    """migrate reads kvc.fakeroot's files (migrate.py facts_from_answers): a link into /proc/self/environ
    was read as a file of the tree and a FIFO skipped without a word, where generate's transpile refuses
    both. Now each is an error naming the file, and /proc is never read."""
    import os

    monkeypatch.setenv("KMWIZARD_TEST_MARK", "planted-environment-value")
    root = tmp_path / "root"
    (root / "etc/kvc").mkdir(parents=True)
    (root / "etc/kvc/m.conf").write_text("KMOD_CONTAINER_BUILD_CONTEXT=https://example.com/m.git\n"
                                         "KMOD_CONTAINER_BUILD_FILE=Dockerfile.rhel\nKMOD_SOFTWARE_VERSION=1\n"
                                         "KMOD_NAMES=m\n")
    odd = root / "etc/odd"
    odd.symlink_to("/proc/self/environ") if special == "proc-link" else os.mkfifo(odd)
    out = tmp_path / "kmm"
    code = main(["migrate", "--set", "method=kvc", "--set", f"kvc.fakeroot={root}", "--set", "kvc.module_name=m",
                 "-o", str(out), "--source-repo", "https://example.com/m.git"])
    shown = "".join(capsys.readouterr())
    assert code != 0 and "kvc.fakeroot" in shown and "etc/odd" in shown and not out.exists()
    assert "planted-environment-value" not in shown
