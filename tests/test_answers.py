"""The answers model: types, allowed values, defaults, files, and messages that name the key."""
from __future__ import annotations

import pytest
import yaml

from kmwizard.answers import Answers, AnswersError
from kmwizard.findings import Severity
from kmwizard.preset_store import list_presets, load_preset


def test_defaults_and_derived_default():
    answers = Answers()
    assert answers.get("method") == "kvc"
    assert answers.get("machineconfig.name") == "99-worker-kvc-simple-kmod"
    changed = answers.set("role", "infra").set("kvc.module_name", "nic-drv")
    assert changed.get("machineconfig.name") == "99-infra-kvc-nic-drv"
    assert answers.get("role") == "worker", "set() must not change the original"


def test_answers_are_immutable_and_hash_by_value():
    a = Answers({"role": "master", "day": 1})
    b = Answers().set("day", "1").set("role", "master")
    assert a == b and hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.foo = 1  # type: ignore[attr-defined]
    assert a != a.set("day", 2)


def test_unknown_key_suggests_the_right_one():
    with pytest.raises(AnswersError) as exc:
        Answers.from_document({"kvc": {"modul_repo": "x"}})
    finding = exc.value.findings[0]
    assert finding.where == "kvc.modul_repo"
    assert "kvc.module_repo" in finding.fix


def test_wrong_type_and_choice_name_key_value_and_allowed_values():
    with pytest.raises(AnswersError) as exc:
        Answers.from_document({"day": 3, "entitlement": {"source": "rhsm"}, "openshift_version": 4.10})
    by_key = {f.where: f for f in exc.value.findings}
    assert set(by_key) == {"day", "entitlement.source", "openshift_version"}
    assert "3" in by_key["day"].message and "1, 2" in by_key["day"].fix
    assert "'rhsm'" in by_key["entitlement.source"].message
    assert "node, certs, yum-repo" in by_key["entitlement.source"].fix
    # YAML reads 4.10 as 4.1: the message says to quote it instead of silently using 4.1
    assert "4.1" in by_key["openshift_version"].message and "quoted" in by_key["openshift_version"].fix


def test_validators_run_in_check():
    answers = Answers({"role": "Worker Nodes", "openshift_version": "4.5", "machineconfig.name": "99_bad"})
    where = {f.where for f in answers.check() if f.severity is Severity.ERROR}
    assert {"role", "openshift_version", "machineconfig.name"} <= where


def test_impossible_combinations_are_errors():
    certs = Answers({"entitlement.source": "certs"}).check()
    assert any(f.where == "entitlement.certs_dir" for f in certs)
    yum = Answers({"entitlement.source": "yum-repo"}).check()
    assert any(f.where == "entitlement.yum_repo" for f in yum)
    day2_ssh = Answers({"day": 2, "ssh_key": "ssh-ed25519 AAAAC3Nza user@host"}).check()
    assert any(f.where == "ssh_key" and "day 1" in f.message for f in day2_ssh)


def test_key_of_the_other_method_is_an_error():
    found = Answers({"method": "kmm", "kvc.module_name": "x"}).check()
    assert any(f.where == "kvc.module_name" and "kvc" in f.message for f in found)


def test_ssh_private_key_is_refused():
    found = Answers({"day": 1, "ssh_key": "-----BEGIN OPENSSH PRIVATE KEY-----"}).check()
    assert any(f.where == "ssh_key" for f in found)


def test_yaml_round_trip_keeps_exactly_the_explicit_answers():
    answers = Answers({"day": 1, "role": "master", "kvc.module_ref": "v1.2", "openshift_version": "4.16"})
    doc = yaml.safe_load(answers.to_yaml())
    assert doc == {"format_version": 1, "day": 1, "kvc": {"module_ref": "v1.2"},
                   "openshift_version": "4.16", "role": "master"}
    assert Answers.from_document(doc) == answers


def test_future_format_version_is_refused():
    with pytest.raises(AnswersError) as exc:
        Answers.from_document({"format_version": 99})
    assert exc.value.findings[0].where == "format_version"


def test_load_reports_yaml_syntax_and_missing_file(tmp_path):
    bad = tmp_path / "a.yaml"
    bad.write_text("method: [kvc\n")
    with pytest.raises(Exception) as exc:
        Answers.load(bad)
    assert str(bad) in str(exc.value)
    with pytest.raises(Exception) as exc:
        Answers.load(tmp_path / "missing.yaml")
    assert "missing.yaml" in str(exc.value)


@pytest.mark.parametrize("name", [p.name for p in list_presets()])
def test_every_builtin_preset_loads_without_answer_errors(name):
    answers = load_preset(name)
    assert [f for f in answers.check() if f.severity is Severity.ERROR] == []


def test_a_bad_answer_is_reported_once_not_again_through_the_defaults_derived_from_it():
    findings = Answers({"role": "Bad Role"}).check()
    assert [f.where for f in findings] == ["role"]  # not also machineconfig.name '99-Bad Role-kvc-...'
    findings = Answers({"kvc.module_name": "Foo_Bar"}).check()
    assert [f.where for f in findings] == ["kvc.module_name"]
    findings = Answers({"role": "Bad Role", "machineconfig.name": "Bad_Name"}).check()
    assert [f.where for f in findings] == ["role", "machineconfig.name"]  # both given, both wrong


@pytest.mark.parametrize("doc,where,shown", [
    ({"kvc": 5}, "kvc", "must be a mapping of the kvc.* answers, got 5"),
    ({"method": "kmm", "kmm": {"kernel_mappings": {"a": 1}}}, "kmm.kernel_mappings", "got {'a': 1}"),
    ({"method": "kmm", "kmm": {"node_selector": [1]}}, "kmm.node_selector", "got [1]"),
])
def test_wrong_shapes_in_an_answer_file_are_named_as_written(doc, where, shown):
    with pytest.raises(AnswersError) as exc:
        Answers.from_document(doc, "a.yaml")
    [finding] = exc.value.findings
    assert finding.where == where and shown in finding.message
    assert "FrozenMap" not in exc.value.message and "unknown answer key" not in exc.value.message
