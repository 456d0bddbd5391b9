"""`kmwizard import --from-cluster`: objects applied by `kmwizard apply` (through the cluster engine, over real
HTTP to the API-server double) come back as answers that generate the same files; the import only reads."""
from __future__ import annotations

import pytest

from apiserver_double import apiserver, apiserver_factory  # noqa: F401
from kmwizard.answers import Answers
from kmwizard.cli import main
from kmwizard.cluster import engine
from kmwizard.preset_store import load_preset
from kmwizard.render import render
from kvc_fixtures import private_cache, repos  # noqa: F401 - repos, private_cache: fixtures


def _apply(double, rendering):
    double.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "openshift-kmm"}})  # the operator's
    with engine.connect(str(double.kubeconfig_path)) as conn:
        report = engine.apply(conn, rendering.manifests)
        assert report.ok, report.error


def _files(rendering):
    return {f.path: f.content for f in rendering.written_files if f.manifest is not None}


def _writes(double):
    return [r for r in double.requests if r.method not in ("GET",)]


def test_a_kvc_machineconfig_from_the_cluster_generates_the_same_file(apiserver, repos, tmp_path):
    answers = load_preset("simple-kmod").update({"kvc.framework_repo": str(repos.framework),
                                                 "kvc.module_repo": str(repos.module)})
    original = render(answers)
    _apply(apiserver, original)
    writes = len(_writes(apiserver))
    out = tmp_path / "imported"
    assert main(["import", "--from-cluster", "machineconfig/99-worker-kvc-simple-kmod", "-o", str(out),
                 "--kubeconfig", str(apiserver.kubeconfig_path)]) == 0
    assert len(_writes(apiserver)) == writes, "import must only read"
    assert _files(render(Answers.load(out / "answers.yaml"))) == _files(original)


def test_a_module_from_the_cluster_comes_with_its_dockerfile(apiserver, tmp_path):
    original = render(load_preset("kmm-ci"))
    _apply(apiserver, original)
    writes = len(_writes(apiserver))
    out = tmp_path / "imported"
    # no name: the one Module in the cluster is taken (there is no KVC MachineConfig)
    assert main(["import", "--from-cluster", "-o", str(out), "--kubeconfig", str(apiserver.kubeconfig_path)]) == 0
    assert len(_writes(apiserver)) == writes
    again = render(Answers.load(out / "answers.yaml"))
    assert _files(again) == _files(original)


def test_without_a_name_and_several_candidates_they_are_listed(apiserver, repos, tmp_path, capsys):
    _apply(apiserver, render(load_preset("kmm-ci")))
    _apply(apiserver, render(load_preset("kmm-ci").set("kmm.name", "second")))
    assert main(["import", "--from-cluster", "-o", str(tmp_path), "--kubeconfig",
                 str(apiserver.kubeconfig_path)]) == 2
    err = capsys.readouterr().err
    assert "module/openshift-kmm/kmm-ci" in err and "module/openshift-kmm/second" in err and "KIND/NAME" in err


@pytest.mark.parametrize("ref, problem", [
    ("pod/x", "is not KIND/NAME"), ("machineconfig/a/b", "have no namespace"), ("module/", "is not KIND/NAME")])
def test_bad_references_name_the_rule(apiserver, tmp_path, capsys, ref, problem):
    assert main(["import", "--from-cluster", ref, "-o", str(tmp_path), "--kubeconfig",
                 str(apiserver.kubeconfig_path)]) == 2
    assert problem in capsys.readouterr().err


def test_a_missing_object_is_named(apiserver, tmp_path, capsys):
    assert main(["import", "--from-cluster", "machineconfig/nope", "-o", str(tmp_path), "--kubeconfig",
                 str(apiserver.kubeconfig_path)]) == 2
    assert "cluster:MachineConfig/nope does not exist" in capsys.readouterr().err


def test_the_marks_kmwizard_apply_leaves_are_the_ones_import_drops():
    from kmwizard.cluster.objects import CREATED_ANNOTATION, FIELD_MANAGER, MANAGED_BY
    from kmwizard.importing.common import MANAGED_BY as IMPORT_MANAGED_BY, SERVER_ANNOTATIONS

    assert CREATED_ANNOTATION in SERVER_ANNOTATIONS
    assert IMPORT_MANAGED_BY == (MANAGED_BY, FIELD_MANAGER)
