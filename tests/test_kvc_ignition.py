"""Spec versions, the base config, merging and the MachineConfig.  Judges: the OpenShift docs (seed),
ignition-validate, the real Ignition files stage, the upstream Ignition JSON schemas and the real
MachineConfig CRD."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kmwizard.findings import KmwizardError
from kmwizard.kvc.ignition import (accepted_spec_versions, base_config, enable_style_default, merge_files,
                                   spec_version_for, supports_gzip)
from kmwizard.kvc.machineconfig import default_name, machineconfig, validate_mc_name
from kmwizard.kvc.transpile import transpile_tree
from tests.crd_schema import require_crds, validate_manifest
from tests.ignition_oracle import (SHARED, apply_files_stage, preset_lines, require_ignition, schema_errors,
                                   validate)
from tests.kvc_trees import MODULE, build_kvc_tree

SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq0cRsoEXUsU4ouxXE1gGq1Tq6u1nGk8pQxGzB5rS9n admin@example"
RELEASES = ["4.6", "4.7", "4.8", "4.9", "4.10", "4.12", "4.13", "4.14", "4.16", "4.18", "4.19", "4.21"]


@pytest.mark.parametrize("release, spec", [
    ("4.6", "3.1.0"), ("4.7", "3.1.0"), ("4.8", "3.2.0"), ("4.12", "3.2.0"), ("4.13", "3.2.0"),
    ("4.14", "3.4.0"), ("4.18", "3.4.0"), ("4.19", "3.5.0"), ("4.22", "3.5.0"), ("4.14.7", "3.4.0"),
])
def test_spec_version_table(release, spec):
    assert spec_version_for(release) == spec
    assert spec in accepted_spec_versions(release)


def test_accepted_versions_follow_the_mco_table():
    assert accepted_spec_versions("4.6") == ("3.0.0", "3.1.0")
    assert accepted_spec_versions("4.12") == ("3.0.0", "3.1.0", "3.2.0")
    assert accepted_spec_versions("4.13")[-1] == "3.4.0"
    assert "3.6.0" not in accepted_spec_versions("4.21")


@pytest.mark.parametrize("bad", ["4.5", "3.11", "5.0", "4", "latest", "", "4.x"])
def test_bad_release_is_named(bad):
    with pytest.raises(KmwizardError) as exc:
        spec_version_for(bad)
    assert repr(bad) in exc.value.message and exc.value.fix


def test_gzip_and_enable_style_by_release():
    assert [supports_gzip(r) for r in ("4.9", "4.10", "4.14")] == [False, True, True]
    assert enable_style_default("4.12") == "require-unit"
    assert enable_style_default("4.13") == "template-instance"


def _seed_unit() -> dict:
    """The require-kvc unit exactly as the OpenShift docs print it (the seed page)."""
    seeds = sorted((SHARED / "seeds").glob("000_*.txt"))
    if not seeds:
        pytest.skip(f"the docs seed is not here ({SHARED / 'seeds'} is absent)")
    text = seeds[0].read_text()
    return {"name": re.search(r'"name": "(require-kvc-[^"]+)"', text).group(1),
            "contents": json.loads(re.search(r'"contents": ("[^\n]*")', text).group(1))}


def test_require_unit_is_the_docs_unit():
    unit = base_config(module_name=MODULE, spec_version="3.1.0")["systemd"]["units"][0]
    seed = _seed_unit()
    assert unit == {"name": seed["name"], "enabled": True, "contents": seed["contents"]}


def test_ssh_key_is_only_sshauthorizedkeys():
    config = base_config(module_name=MODULE, spec_version="3.2.0", ssh_key=SSH_KEY + "\n")
    assert config["passwd"] == {"users": [{"name": "core", "sshAuthorizedKeys": [SSH_KEY]}]}
    assert "passwd" not in base_config(module_name=MODULE, spec_version="3.2.0", ssh_key=None)


@pytest.mark.parametrize("kwargs, culprit", [
    ({"module_name": "Simple_Kmod"}, "Simple_Kmod"),
    ({"module_name": "a/b"}, "a/b"),
    ({"ssh_key": "-----BEGIN OPENSSH PRIVATE KEY-----"}, "ssh_key"),
    ({"enable_style": "wants-link"}, "wants-link"),
])
def test_bad_base_config_inputs(kwargs, culprit):
    args = {"module_name": MODULE, "spec_version": "3.2.0", **kwargs}
    with pytest.raises(KmwizardError) as exc:
        base_config(**args)
    assert culprit in exc.value.message and exc.value.fix


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("style", ["require-unit", "template-instance"])
def test_base_config_validates(tmp_path, release, style):
    config = base_config(module_name=MODULE, spec_version=spec_version_for(release), ssh_key=SSH_KEY,
                         enable_style=style)
    assert validate(config, tmp_path) == (0, "")
    assert schema_errors(config) == []


def test_merge_replaces_by_path_and_keeps_the_base():
    base = base_config(module_name=MODULE, spec_version="3.2.0")
    base["storage"] = {"files": [{"path": "/etc/b", "contents": {"source": "data:,base"}},
                                 {"path": "/etc/keep", "contents": {"source": "data:,keep"}}]}
    files = [{"path": "/etc/b", "contents": {"source": "data:,tree"}},
             {"path": "/etc/a", "contents": {"source": "data:,tree"}}]
    extra = [{"path": "/etc/a", "contents": {"source": "data:,extra"}}]
    merged = merge_files(base, files, extra)
    assert [(f["path"], f["contents"]["source"]) for f in merged["storage"]["files"]] == [
        ("/etc/a", "data:,extra"), ("/etc/b", "data:,tree"), ("/etc/keep", "data:,keep")]
    assert merged["systemd"] == base["systemd"] and merged["ignition"] == base["ignition"]
    assert [f["path"] for f in base["storage"]["files"]] == ["/etc/b", "/etc/keep"], "base not mutated"


@pytest.mark.parametrize("name, ok", [
    ("99-worker-kvc-simple-kmod", True), ("10-kvc-simple-kmod", True), ("a.b-c", True),
    ("99_worker", False), ("Worker", False), ("-x", False), ("x-", False), ("", False), ("a" * 254, False),
])
def test_mc_name_rule(name, ok):
    problem = validate_mc_name(name)
    assert (problem is None) == ok
    if not ok and name:
        assert repr(name)[:20].strip("'") in problem


def test_machineconfig_matches_the_crd(tmp_path):
    require_crds()
    root, _ = build_kvc_tree(tmp_path)
    files, _ = transpile_tree(root, gzip_allowed=True)
    config = merge_files(base_config(module_name=MODULE, spec_version="3.4.0"), files)
    mc = machineconfig(name=default_name(role="worker", module_name=MODULE), role="worker", config=config)
    assert validate_manifest(mc) == []
    assert mc["metadata"]["labels"] == {"machineconfiguration.openshift.io/role": "worker"}
    assert mc["metadata"]["name"] == "99-worker-kvc-simple-kmod"
    with pytest.raises(KmwizardError, match="Worker"):
        machineconfig(name="99-x", role="Worker", config=config)
    with pytest.raises(KmwizardError, match="99_x"):
        machineconfig(name="99_x", role="worker", config=config)


@pytest.mark.parametrize("release", ["4.6", "4.9", "4.10", "4.12", "4.14", "4.19"])
def test_fakeroot_to_node_end_to_end(tmp_path, release):
    """Fakeroot in, the node's filesystem out: every file's bytes and mode, the unit and its preset."""
    require_ignition()
    root, expected = build_kvc_tree(tmp_path / "src")
    files, findings = transpile_tree(root, gzip_allowed=supports_gzip(release))
    assert findings == []
    config = merge_files(base_config(module_name=MODULE, spec_version=spec_version_for(release),
                                     ssh_key=SSH_KEY, enable_style="require-unit"), files)
    assert validate(config, tmp_path) == (0, "")
    assert schema_errors(config) == []
    written = apply_files_stage(config)
    unit_path = f"/etc/systemd/system/require-kvc-{MODULE}.service"
    assert written[unit_path].data.decode() == _seed_unit()["contents"]
    assert preset_lines(written) == {f"enable require-kvc-{MODULE}.service"}
    keys = written.pop("/var/home/core/.ssh/authorized_keys.d/ignition")
    assert keys.data.decode().split("\n") == [SSH_KEY, ""]
    delivered = {p: (w.data, w.mode) for p, w in written.items()
                 if w.kind == "file" and p not in (unit_path, "/etc/systemd/system-preset/20-ignition.preset")}
    assert delivered == expected


def test_template_instance_style_validates(tmp_path):
    # The real Ignition cannot judge this style here: for an instance of a template unit it asks the
    # running systemd for its version (to warn below 240), and there is none in a test.  The config is
    # judged by ignition-validate and the schema; the template it starts comes from the fakeroot.
    root, _ = build_kvc_tree(tmp_path / "src")
    files, _ = transpile_tree(root, gzip_allowed=True)
    config = merge_files(base_config(module_name=MODULE, spec_version="3.4.0",
                                     enable_style="template-instance"), files)
    assert config["systemd"]["units"] == [{"name": f"kmods-via-containers@{MODULE}.service", "enabled": True}]
    assert "/etc/systemd/system/kmods-via-containers@.service" in {f["path"] for f in files}
    assert validate(config, tmp_path) == (0, "")
    assert schema_errors(config) == []


def test_schema_judge_is_not_vacuous():
    # the schema judge must be able to fail: a wrongly typed mode and an unknown unit key
    bad = {"ignition": {"version": "3.2.0"},
           "storage": {"files": [{"path": "/etc/x", "mode": "0644", "contents": {"source": "data:,"}}]}}
    assert any("mode" in e for e in schema_errors(bad))
