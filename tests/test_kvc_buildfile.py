"""The node's build runs on the node's RHEL: RHCOS is RHEL 8 up to OpenShift 4.12 and RHEL 9 from 4.13
(el9 kernels), and kernel-devel of an el9 kernel does not install in a ubi8 image.  Upstream
kvc-simple-kmod's Dockerfile.rhel is FROM ubi8 (the fixture repository copies that line)."""
from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
import yaml

from kmwizard.cli import main
from kmwizard.findings import Severity
from kmwizard.kvc.buildfile import base_images, fit_text, rhel_major_of, retarget_image
from kmwizard.kvc.dataurl import decode_data_url
from kvc_fixtures import DOCKERFILE_RHEL, private_cache, repos  # noqa: F401 - repos, private_cache: fixtures

BUILD_TARGET = "/etc/kvc/simple-kmod-build/Dockerfile"


@pytest.mark.parametrize("image, major", [
    ("registry.access.redhat.com/ubi8:latest", 8), ("registry.access.redhat.com/ubi9/ubi", 9),
    ("registry.redhat.io/ubi8/ubi-minimal:8.9", 8), ("registry.redhat.io/rhel9/support-tools", 9),
    ("quay.io/centos/centos:stream9", 9), ("registry.fedoraproject.org/fedora:latest", None),
    ("quay.io/example/driver-toolkit@sha256:abc", None), ("docker.io/library/rubi8:1", None),
])
def test_rhel_major_of_images(image, major):
    assert rhel_major_of(image) == major


def test_retarget_only_floating_ubi_tags():
    assert retarget_image("registry.access.redhat.com/ubi8:latest", 9) == "registry.access.redhat.com/ubi9:latest"
    assert retarget_image("registry.access.redhat.com/ubi8/ubi-minimal", 9) == \
        "registry.access.redhat.com/ubi9/ubi-minimal"
    assert retarget_image("registry.access.redhat.com/ubi8/ubi:8.6", 9) is None       # pinned: names an 8.x
    assert retarget_image("registry.access.redhat.com/ubi8@sha256:0123", 9) is None


def test_base_images_follow_stages_continuations_and_args():
    text = ("ARG BASE=registry.access.redhat.com/ubi8/ubi\nFROM ${BASE} AS builder\nRUN make\n"
            "FROM \\\n   registry.access.redhat.com/ubi8:latest \\\n  AS final\nFROM builder\n")
    images = base_images(text)
    assert [(b.line, b.image, b.resolved) for b in images] == [
        (1, "${BASE}", "registry.access.redhat.com/ubi8/ubi"),
        (4, "registry.access.redhat.com/ubi8:latest", "registry.access.redhat.com/ubi8:latest")]
    fixed, findings = fit_text(text, 9, label="Dockerfile", where="kvc.build_file")
    assert "ubi9:latest" in fixed.split("\n")[4]
    # the image behind an ARG is not rewritten behind the user's back: refused with a fix
    assert [f.code for f in findings if f.severity is Severity.ERROR] == ["kvc-build-rhel"]
    assert fit_text(text, 8, label="Dockerfile", where="kvc.build_file") == (None, [])


# --- end to end through generate (real git and make on the fixture repositories) ----------------------

pytestmark_git = pytest.mark.skipif(not (shutil.which("git") and shutil.which("make")),
                                    reason="the KVC path runs real git and make")


def _generate(repos, out: Path, *sets: str) -> int:
    base = [f"kvc.framework_repo={repos.framework}", "kvc.framework_ref=HEAD",
            f"kvc.module_repo={repos.module}", "kvc.module_ref=HEAD", *sets]
    return main(["generate", *[a for s in base for a in ("--set", s)], "-o", str(out)])


def _files(out: Path) -> dict[str, bytes]:
    mc = yaml.safe_load((out / "99-worker-kvc-simple-kmod.yaml").read_text())
    files = {}
    for entry in mc["spec"]["config"]["storage"]["files"]:
        data = decode_data_url(entry["contents"]["source"])
        files[entry["path"]] = gzip.decompress(data) if entry["contents"].get("compression") else data
    return files


@pytestmark_git
def test_ubi8_build_file_is_delivered_for_rhel9_nodes(repos, tmp_path, capsys):
    assert "FROM registry.access.redhat.com/ubi8:latest" in DOCKERFILE_RHEL
    assert _generate(repos, tmp_path / "o14", "openshift_version=4.14") == 0
    err = capsys.readouterr().err
    assert "OpenShift 4.14 nodes run RHCOS built on RHEL 9" in err
    files = _files(tmp_path / "o14")
    assert files[BUILD_TARGET].decode() == DOCKERFILE_RHEL.replace("/ubi8:latest", "/ubi9:latest")
    assert f"KMOD_CONTAINER_BUILD_FILE={BUILD_TARGET}" in files["/etc/kvc/simple-kmod.conf"].decode()
    # RHEL 8 nodes keep the module's own file
    assert _generate(repos, tmp_path / "o12", "openshift_version=4.12") == 0
    files = _files(tmp_path / "o12")
    assert BUILD_TARGET not in files and "KMOD_CONTAINER_BUILD_FILE=Dockerfile.rhel" in \
        files["/etc/kvc/simple-kmod.conf"].decode()
    assert "built on RHEL 8" in capsys.readouterr().err


@pytestmark_git
def test_yum_repo_build_file_also_fits_the_rhel(repos, tmp_path):
    assert _generate(repos, tmp_path / "o", "openshift_version=4.16", "entitlement.source=yum-repo",
                     "entitlement.yum_repo=https://repo.example.com/el9/") == 0
    text = _files(tmp_path / "o")[BUILD_TARGET].decode()
    assert "FROM registry.access.redhat.com/ubi9:latest" in text and "kmwizard-kernel.repo" in text


@pytestmark_git
def test_fedora_build_file_is_refused(repos, tmp_path, capsys):
    assert _generate(repos, tmp_path / "o", "kvc.build_file=Dockerfile.fedora") == 1
    err = capsys.readouterr().err
    assert "kvc.build_file" in err and "Fedora" in err and not (tmp_path / "o").exists()


@pytestmark_git
def test_a_build_file_linked_into_proc_is_not_read(repos, tmp_path, capsys, monkeypatch):
    """A module repository whose build file is a link to /proc/self/environ: reading it for its FROM lines
    (kvc/buildfile.py _build_file_text) would put kmwizard's own environment into a converted Dockerfile on
    the node. It is not read (textfiles.is_regular: no /proc, FIFO or device), and the error names it."""
    import subprocess

    monkeypatch.setenv("KMWIZARD_TEST_MARK", "planted-environment-value")
    module = tmp_path / "module"
    shutil.copytree(repos.module, module, symlinks=True)
    (module / "Dockerfile.env").symlink_to("/proc/self/environ")
    git = ["git", "-C", str(module), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", "Dockerfile.env"], check=True, capture_output=True)
    subprocess.run([*git, "commit", "-qm", "link"], check=True, capture_output=True)
    code = main(["generate", "--set", f"kvc.framework_repo={repos.framework}", "--set", "kvc.framework_ref=HEAD",
                 "--set", f"kvc.module_repo={module}", "--set", "kvc.module_ref=HEAD",
                 "--set", "kvc.build_file=Dockerfile.env", "--set", "openshift_version=4.14",
                 "-o", str(tmp_path / "o")])
    out, err = capsys.readouterr()
    assert "planted-environment-value" not in out + err
    out_dir = tmp_path / "o"
    written = b"".join(p.read_bytes() for p in out_dir.rglob("*") if p.is_file()) if out_dir.exists() else b""
    assert b"planted-environment-value" not in written and b"cGxhbnRlZC1lbnZpcm9ubWVudC12YWx1ZQ" not in written
    assert "Dockerfile.env" in err and "cannot read it" in err  # checked no further, as any unreadable build file
