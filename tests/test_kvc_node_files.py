"""A tree must not replace files the node relies on; files that hold secrets are treated like
entitlement keys (the MachineConfig is written 0600, their contents masked in previews)."""
from __future__ import annotations

import base64
import gzip
import os
import stat
from pathlib import Path

import pytest
import yaml

from kmwizard.cli import main
from kmwizard.kvc.dataurl import decode_data_url
from kmwizard.kvc.lint import lint_machineconfig
from kmwizard.kvc.node_files import is_secret, node_file_reason
from kvc_trees import build_kvc_tree

PEM_KEY = (b"-----BEGIN PRIVATE KEY-----\n" + base64.encodebytes(bytes(range(48))) +
           b"-----END PRIVATE KEY-----\n")


@pytest.fixture(autouse=True)
def private_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def _mc(*paths):
    files = [{"path": p, "mode": 420, "overwrite": True, "contents": {"source": "data:,x"}} for p in paths]
    return {"apiVersion": "machineconfiguration.openshift.io/v1", "kind": "MachineConfig",
            "metadata": {"name": "99-worker-x", "labels": {"machineconfiguration.openshift.io/role": "worker"}},
            "spec": {"config": {"ignition": {"version": "3.2.0"}, "storage": {"files": files}}}}


@pytest.mark.parametrize("path", ["/etc/shadow", "/etc/passwd", "/etc/group", "/etc/kubernetes/kubelet.conf",
                                  "/etc/machine-config-daemon/currentconfig", "/etc/crio/crio.conf.d/00-default",
                                  "/var/lib/kubelet/config.json", "/etc/containers/policy.json"])
def test_node_files_are_errors_naming_the_file(path):
    found = [f for f in lint_machineconfig(_mc(path), where="mc") if f.code == "kvc-node-file"]
    assert len(found) == 1 and found[0].severity.value == "error" and path in found[0].message
    assert "kvc.overwrite_node_files" in found[0].fix
    assert not [f for f in lint_machineconfig(_mc(path), where="mc", node_files_allowed=[path])
                if f.code == "kvc-node-file"]


@pytest.mark.parametrize("path", ["/etc/kvc/simple-kmod.conf", "/etc/passwd.d/x", "/etc/kubernetes-notes",
                                  "/usr/local/bin/kmods-via-containers", "/etc/containers/registries.conf.d/x.conf"])
def test_other_files_pass(path):
    assert node_file_reason(path) is None


def test_secret_detection():
    assert is_secret(b"x", 0o600) and is_secret(b"x", 0o400) and not is_secret(b"x", 0o644)
    assert is_secret(b"a\n" + PEM_KEY, 0o644)
    # OpenSSL-linked binaries carry the header as a C string: not a key
    assert not is_secret(b"\x7fELF...-----BEGIN PRIVATE KEY-----\x00-----END PRIVATE KEY-----\x00", 0o755)


def _tree(tmp_path: Path) -> Path:
    root, _ = build_kvc_tree(tmp_path / "src")
    return root


def test_generate_refuses_a_tree_replacing_etc_passwd(tmp_path, capsys):
    root = _tree(tmp_path)
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/bash\n")
    out = tmp_path / "out"
    assert main(["generate", "--set", f"kvc.fakeroot={root}", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "/etc/passwd" in err and "kvc.overwrite_node_files" in err and not out.exists()
    assert main(["generate", "--set", f"kvc.fakeroot={root}", "--set", "kvc.overwrite_node_files=/etc/passwd",
                 "-o", str(out)]) == 0


def test_secret_files_of_the_tree_are_written_0600_and_masked(tmp_path, capsys):
    root = _tree(tmp_path)
    key = root / "etc/kvc/signing/key.pem"
    key.parent.mkdir(parents=True)
    key.write_bytes(PEM_KEY)                      # 0644 on disk, but a private key
    token = root / "etc/kvc/token"
    token.write_bytes(b"s3cr3t-token\n")
    token.chmod(0o600)
    out = tmp_path / "out"
    assert main(["generate", "--set", f"kvc.fakeroot={root}", "-o", str(out)]) == 0
    mc_file = out / "99-worker-kvc-simple-kmod.yaml"
    assert stat.S_IMODE(os.stat(mc_file).st_mode) == 0o600
    written = {f["path"]: f["contents"] for f in yaml.safe_load(mc_file.read_text())["spec"]["config"]["storage"]["files"]}
    data = decode_data_url(written["/etc/kvc/signing/key.pem"]["source"])
    if written["/etc/kvc/signing/key.pem"].get("compression"):
        data = gzip.decompress(data)
    assert data == PEM_KEY                          # the node gets the key; only the preview masks it
    capsys.readouterr()
    assert main(["preview", "--set", f"kvc.fakeroot={root}"]) == 0
    shown = capsys.readouterr().out
    assert "s3cr3t" not in shown and "BEGIN" not in shown and "redacted" in shown
    files = {f["path"]: f for f in yaml.safe_load(shown)["spec"]["config"]["storage"]["files"]}
    assert "redacted" in files["/etc/kvc/token"]["contents"]["source"]
    assert "redacted" in files["/etc/kvc/signing/key.pem"]["contents"]["source"]
    assert "redacted" not in files["/etc/kvc/kmods-via-containers.conf"]["contents"]["source"]
