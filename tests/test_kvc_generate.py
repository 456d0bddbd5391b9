"""`kmwizard generate` for KVC, end to end: fixture repositories through real git and make,
the written MachineConfig judged by ignition-validate, the real Ignition files stage, and the
real MachineConfig CRD."""
from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest
import yaml

from crd_schema import validate_manifest
from ignition_oracle import apply_files_stage, preset_lines, validate
from kmwizard.cli import main
from kvc_fixtures import make_entitlement_certs, make_fixture_repos

pytestmark = pytest.mark.skipif(not (shutil.which("git") and shutil.which("make")),
                                reason="the KVC path runs real git and make")


@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    return make_fixture_repos(tmp_path_factory.mktemp("repos"))


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def _args(repos, *sets: str) -> list[str]:
    base = [f"kvc.framework_repo={repos.framework}", "kvc.framework_ref=HEAD",
            f"kvc.module_repo={repos.module}", "kvc.module_ref=HEAD", *sets]
    return [a for s in base for a in ("--set", s)]


def _mc(out: Path, name="99-worker-kvc-simple-kmod") -> dict:
    return yaml.safe_load((out / f"{name}.yaml").read_text())


@pytest.mark.parametrize("version", ["4.9", "4.12", "4.16"])
def test_day2_machineconfig_lands_the_installed_tree(repos, tmp_path, version, capsys):
    out = tmp_path / "out"
    assert main(["generate", *_args(repos, f"openshift_version={version}", "kvc.enable_style=require-unit"),
                 "--output-dir", str(out)]) == 0
    mc = _mc(out)
    assert validate_manifest(mc) == []
    config = mc["spec"]["config"]
    rc, text = validate(config, tmp_path)
    assert (rc, text) == (0, ""), text
    written = apply_files_stage(config)
    conf_path = "/etc/kvc/simple-kmod.conf"
    for path, (data, mode) in repos.expected_tree.items():
        if path == conf_path:
            continue  # rewritten for RHCOS: checked below
        assert path in written, f"{path} was not written by Ignition"
        assert (written[path].data, written[path].mode) == (data, mode), path
    files = {p for p, w in written.items() if w.kind == "file"}
    rhel9_build = "/etc/kvc/simple-kmod-build/Dockerfile"   # the ubi8 build file converted for RHEL 9 nodes
    extra = files - set(repos.expected_tree) - {"/etc/systemd/system/require-kvc-simple-kmod.service",
                                               "/etc/systemd/system-preset/20-ignition.preset", rhel9_build}
    assert extra == set(), f"Ignition wrote files the tree does not have: {extra}"
    conf = written[conf_path].data.decode()
    build_file = rhel9_build if version == "4.16" else "Dockerfile.rhel"
    assert f"KMOD_CONTAINER_BUILD_FILE={build_file}" in conf and "git://" not in conf
    assert (rhel9_build in written) == (version == "4.16")
    assert preset_lines(written) == {"enable require-kvc-simple-kmod.service"}
    gz = [f for f in config["storage"]["files"] if f["contents"].get("compression") == "gzip"]
    if version == "4.9":
        assert gz == [], "gzip must not be used before 4.10 (the MCO writes it verbatim)"


def test_the_changes_to_the_instance_conf_are_shown_as_findings(repos, capsys):
    assert main(["preview", *_args(repos)]) == 0
    err = capsys.readouterr().err
    assert "Dockerfile.fedora" in err and "Dockerfile.rhel" in err
    assert "git://" in err and "https://" in err


def test_generate_and_preview_agree(repos, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["generate", *_args(repos), "--output-dir", str(out)]) == 0
    capsys.readouterr()
    assert main(["preview", *_args(repos)]) == 0
    shown = yaml.safe_load_all(capsys.readouterr().out)
    assert list(shown) == [_mc(out)]


def test_second_generate_refuses_then_force_replaces(repos, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["generate", *_args(repos), "--output-dir", str(out)]) == 0
    assert main(["generate", *_args(repos, "role=infra", "machineconfig.name=99-worker-kvc-simple-kmod"),
                 "--output-dir", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert _mc(out)["metadata"]["labels"]["machineconfiguration.openshift.io/role"] == "worker"
    assert main(["generate", *_args(repos, "role=infra", "machineconfig.name=99-worker-kvc-simple-kmod"),
                 "--output-dir", str(out), "--force"]) == 0
    assert _mc(out)["metadata"]["labels"]["machineconfiguration.openshift.io/role"] == "infra"


def test_day1_goes_into_openshift_dir_with_core_ssh_key_only(repos, tmp_path, capsys):
    install = tmp_path / "install"
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKmwizardtestkey user@host"
    args = _args(repos, "day=1", "role=master", f"ssh_key={key}", "kvc.enable_style=require-unit")
    assert main(["generate", *args, "--output-dir", str(install)]) == 2
    assert "openshift-install create manifests" in capsys.readouterr().err
    (install / "manifests").mkdir(parents=True)
    (install / "openshift").mkdir()
    assert main(["generate", *args, "--output-dir", str(install)]) == 0
    assert sorted(p.name for p in (install / "openshift").iterdir()) == ["99-master-kvc-simple-kmod.yaml"]
    mc = _mc(install / "openshift", "99-master-kvc-simple-kmod")
    assert mc["spec"]["config"]["passwd"] == {"users": [{"name": "core", "sshAuthorizedKeys": [key]}]}
    written = apply_files_stage(mc["spec"]["config"])
    assert written["/var/home/core/.ssh/authorized_keys.d/ignition"].data.decode().strip() == key \
        if "/var/home/core/.ssh/authorized_keys.d/ignition" in written else \
        key in written["/var/home/core/.ssh/authorized_keys"].data.decode()


@pytest.fixture
def entitlement_dir(tmp_path):
    if not shutil.which("openssl"):
        pytest.skip("openssl generates the test entitlement certificate")
    return make_entitlement_certs(tmp_path / "entitlement")


def test_entitlement_keys_land_0600_and_never_show(repos, tmp_path, entitlement_dir, capsys):
    key_text = (entitlement_dir / "4242-key.pem").read_text()
    key_body = key_text.splitlines()[1]
    args = _args(repos, "entitlement.source=certs", f"entitlement.certs_dir={entitlement_dir}",
                 "kvc.enable_style=require-unit")
    assert main(["preview", *args, "--all-files"]) == 0
    shown = capsys.readouterr()
    assert key_body not in shown.out and key_body not in shown.err
    assert "redacted" in shown.out
    assert "get machineconfigs" in shown.err, "the user is told who can read the keys"
    out = tmp_path / "out"
    assert main(["generate", *args, "--output-dir", str(out)]) == 0
    printed = capsys.readouterr()
    assert key_body not in printed.out + printed.err
    path = out / "99-worker-kvc-simple-kmod.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    written = apply_files_stage(_mc(out)["spec"]["config"])
    landed = written["/etc/pki/entitlement/4242-key.pem"]
    assert landed.data.decode() == key_text and landed.mode == 0o600
    assert written["/etc/pki/entitlement/4242.pem"].mode == 0o644


def test_fakeroot_answer_skips_git_and_make(tmp_path, capsys):
    root = tmp_path / "root"
    (root / "etc/kvc").mkdir(parents=True)
    (root / "etc/kvc/simple-kmod.conf").write_text(
        "KMOD_CONTAINER_BUILD_CONTEXT=https://github.com/kmods-via-containers/kvc-simple-kmod.git\n"
        "KMOD_CONTAINER_BUILD_FILE=Dockerfile.rhel\nKMOD_SOFTWARE_VERSION=dd1a7d4\n"
        "KMOD_NAMES=\"simple-kmod simple-procfs-kmod\"\n")
    (root / "usr/local/bin").mkdir(parents=True)
    (root / "usr/local/bin/tool").write_bytes(b"\x00\x01binary")
    (root / "usr/local/bin/tool").chmod(0o755)
    assert main(["preview", "--set", f"kvc.fakeroot={root}"]) == 0
    mc = next(yaml.safe_load_all(capsys.readouterr().out))
    paths = [f["path"] for f in mc["spec"]["config"]["storage"]["files"]]
    assert paths == ["/etc/kvc/simple-kmod.conf", "/usr/local/bin/tool"]


def test_a_dangling_link_is_an_error_naming_it_and_nothing_is_written(tmp_path, capsys):
    root = tmp_path / "root"
    (root / "etc/kvc").mkdir(parents=True)
    (root / "etc/kvc/broken").symlink_to("nowhere")
    out = tmp_path / "out"
    assert main(["generate", "--set", f"kvc.fakeroot={root}", "--output-dir", str(out)]) == 1
    err = capsys.readouterr().err
    assert "/etc/kvc/broken" in err
    assert not out.exists()


def test_unreachable_repository_is_a_finding_naming_it(tmp_path, capsys):
    missing = tmp_path / "no-such-repo"
    assert main(["preview", "--set", f"kvc.module_repo={missing}"]) == 1
    err = capsys.readouterr().err
    assert "kvc.module_repo" in err and "no-such-repo" in err


def test_validate_accepts_every_file_generate_writes(repos, tmp_path, capsys):
    """`kmwizard validate out/*` right after generate: the plain Dockerfile and the file listing included."""
    kvc, kmm = tmp_path / "kvc", tmp_path / "kmm"
    assert main(["generate", *_args(repos), "-o", str(kvc)]) == 0
    assert main(["generate", "--preset", "kmm-ci", "-o", str(kmm)]) == 0
    capsys.readouterr()
    files = sorted(str(p) for p in [*kvc.iterdir(), *kmm.iterdir()])
    assert any(f.endswith("/Dockerfile") for f in files) and any(f.endswith(".files.txt") for f in files)
    # generate targets openshift_version's default (4.14): judged for that release, nothing to say
    assert main(["validate", "--openshift-version", "4.14", *files]) == 0
    err = capsys.readouterr().err
    assert "0 error(s), 0 warning(s)" in err and "YAML" not in err
    bad = tmp_path / "Dockerfile"
    bad.write_text("# comment\n\nFROM scratch\nCOPY a.ko /opt/lib/modules/x/\n")
    assert main(["validate", str(bad)]) == 1  # a Dockerfile is judged by the KMM Dockerfile rules
    assert "scratch" in capsys.readouterr().err
