"""Fixture KVC repositories laid out like the real ones, as real git repositories.

``make_fixture_repos(tmp_path)`` writes a framework repository shaped like
kmods-via-containers/kmods-via-containers and an instance repository shaped like
kmods-via-containers/kvc-simple-kmod (same Makefile idioms: ``install -m``, ``install -d``,
``ln -sf`` of a relative link), plus the awkward cases a real module repo may carry: an empty
file, a binary file, non-ASCII text and a symlink to a directory.

``expected_tree`` is written out by hand from the Makefiles below (it is not computed by
walking a fakeroot): node path -> (bytes, mode) after both ``make install`` runs, with
symlinks dereferenced, as the node must end up.

Refs in the module repository: ``master`` (checked out), tag ``v1`` (= master) and branch
``next`` whose conf carries ``KMOD_SOFTWARE_VERSION=next1``.
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

MODULE = "simple-kmod"

FRAMEWORK_MAKEFILE = """\
ifndef DESTDIR
DESTDIR=/usr/
endif
ifndef CONFDIR
CONFDIR=/etc
endif

install:
\t# The unit goes under $(CONFDIR) because of coreos/rpm-ostree#1936
\tinstall -v -m 755 -d $(DESTDIR)/bin
\tinstall -v -m 755 kmods-via-containers $(DESTDIR)/bin/
\tinstall -v -m 755 -d $(CONFDIR)/kvc
\tinstall -v -m 644 kmods-via-containers.conf $(CONFDIR)/kvc/
\tinstall -v -m 755 -d $(CONFDIR)/systemd/system
\tinstall -v -m 644 kmods-via-containers@.service $(CONFDIR)/systemd/system/
\tinstall -v -m 755 -d $(DESTDIR)/lib/kvc
"""

FRAMEWORK_SCRIPT = """\
#!/bin/bash
# Fixture for kmods-via-containers: build, load, unload, reload, wrapper.
set -eu
kvc_c_build() { (set -x; $KVC_CONTAINER_RUNTIME build  $@ ); }
KVC_ACTION=$1; shift
KVC_SOFTWARE_NAME=$1; shift
KVC_KVER=$1; shift
source "/etc/kvc/kmods-via-containers.conf"
for instance_library in /usr/local/lib/kvc/${KVC_SOFTWARE_NAME}-lib.sh /usr/lib/kvc/${KVC_SOFTWARE_NAME}-lib.sh; do
    if [ -f "${instance_library}" ]; then source "${instance_library}"; found=1; break; fi
done
case "${KVC_ACTION}" in
    build) build_kmods ;;
    load) load_kmods ;;
    unload) unload_kmods ;;
    reload) build_kmods; unload_kmods; load_kmods ;;
    wrapper) wrapper $@ ;;
    *) echo "Unknown command. Exiting."; exit 1 ;;
esac
"""

FRAMEWORK_CONF = """\
# The container runtime to use for building/executing containers
KVC_CONTAINER_RUNTIME=podman
"""

TEMPLATE_UNIT = """\
[Unit]
Description=Kmods Via Containers - %i
Wants=network-online.target
After=network-online.target
Before=kubelet.service

[Service]
Type=oneshot
TimeoutStartSec=25m
RemainAfterExit=true
ExecStartPre=/usr/bin/bash -c "/usr/local/bin/kmods-via-containers build %i %v"
ExecStart=/usr/bin/bash -c "/usr/local/bin/kmods-via-containers load %i %v"
ExecStop=/usr/bin/bash -c "/usr/local/bin/kmods-via-containers unload %i %v"

[Install]
WantedBy=default.target
"""

MODULE_MAKEFILE = """\
ifndef DESTDIR
DESTDIR=/usr/
endif
ifndef CONFDIR
CONFDIR=/etc
endif

install:
\tinstall -v -m 644 simple-kmod-lib.sh $(DESTDIR)/lib/kvc/
\tinstall -v -m 644 simple-kmod.conf $(CONFDIR)/kvc/
\tinstall -v -m 755 simple-kmod-wrapper.sh $(DESTDIR)/lib/kvc/
\tln -sf ../lib/kvc/simple-kmod-wrapper.sh $(DESTDIR)/bin/spkut
\tinstall -v -m 755 -d $(DESTDIR)/share/simple-kmod/data
\tinstall -v -m 644 extra/empty $(DESTDIR)/share/simple-kmod/data/
\tinstall -v -m 644 extra/blob.bin $(DESTDIR)/share/simple-kmod/data/
\tinstall -v -m 644 extra/README.ja $(DESTDIR)/share/simple-kmod/data/
\tln -sfn data $(DESTDIR)/share/simple-kmod/current
"""

MODULE_LIB = """\
#!/bin/bash
# Sourced by kmods-via-containers, never executed.
source "/etc/kvc/${KVC_SOFTWARE_NAME}.conf"
IMAGE="${KVC_SOFTWARE_NAME}-${KMOD_SOFTWARE_VERSION}:${KVC_KVER}"
build_kmod_container() {
    kvc_c_build -t ${IMAGE}                          \\
        --file ${KMOD_CONTAINER_BUILD_FILE}          \\
        --label="name=${KVC_SOFTWARE_NAME}"          \\
        --build-arg KVER=${KVC_KVER}                 \\
        --build-arg KMODVER=${KMOD_SOFTWARE_VERSION} \\
        ${KMOD_CONTAINER_BUILD_CONTEXT}
}
build_kmods() { build_kmod_container; }
load_kmods() { for module in ${KMOD_NAMES}; do modprobe ${module//-/_}; done; }
unload_kmods() { for module in ${KMOD_NAMES}; do rmmod ${module//-/_}; done; }
wrapper() { kvc_c_run --privileged $IMAGE $@; }
"""

MODULE_WRAPPER = """\
#!/bin/bash
exec /usr/local/bin/kmods-via-containers wrapper simple-kmod $(uname -r) $(basename $0) $@
"""

MODULE_CONF = """\
KMOD_CONTAINER_BUILD_CONTEXT="git://github.com/kmods-via-containers/kvc-simple-kmod.git"
KMOD_CONTAINER_BUILD_FILE=Dockerfile.fedora
KMOD_SOFTWARE_VERSION=dd1a7d4
KMOD_NAMES="simple-kmod simple-procfs-kmod"
"""

DOCKERFILE_RHEL = """\
FROM registry.access.redhat.com/ubi8:latest
ARG KVER
ARG KMODVER
RUN yum -y install kernel-devel-${KVER} kernel-headers-${KVER} \\
        kernel-modules-${KVER} kernel-core-${KVER} elfutils-libelf-devel gcc git make kmod
WORKDIR /build/
RUN git clone https://github.com/kmods-via-containers/simple-kmod.git
WORKDIR /build/simple-kmod
RUN git checkout ${KMODVER} \\
 && make all       KVER=${KVER} KMODVER=${KMODVER} \\
 && make install   KVER=${KVER} KMODVER=${KMODVER}
"""

DOCKERFILE_FEDORA = DOCKERFILE_RHEL.replace("registry.access.redhat.com/ubi8:latest",
                                            "registry.fedoraproject.org/fedora:latest")

EMPTY = b""
BLOB = bytes(range(256)) * 4 + b"\x00\xff\xfe"
README_JA = "カーネルモジュール simple-kmod のデータ — naïve café ✓\n".encode("utf-8")


@dataclass(frozen=True)
class FixtureRepos:
    framework: Path                             # git checkout of the framework (branch master)
    module: Path                                # git checkout of the instance (branch master)
    expected_tree: dict[str, tuple[bytes, int]]  # node path -> (bytes, mode), links dereferenced
    module_conf_path: str = f"/etc/kvc/{MODULE}.conf"

    def url(self, which: str) -> str:
        """A file:// URL, so the code takes its git-clone path without any network."""
        return (self.framework if which == "framework" else self.module).as_uri()


def git(cwd: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="Fixture", GIT_AUTHOR_EMAIL="fixture@example.com",
               GIT_COMMITTER_NAME="Fixture", GIT_COMMITTER_EMAIL="fixture@example.com",
               GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1")
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def _write_repo(root: Path, files: dict[str, tuple[bytes, int]]) -> None:
    root.mkdir(parents=True)
    git(root, "init", "--quiet", "--initial-branch=master")
    for rel, (content, mode) in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(mode)
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "-m", "fixture")


def make_fixture_repos(tmp_path: Path) -> FixtureRepos:
    framework = tmp_path / "kmods-via-containers"
    module = tmp_path / "kvc-simple-kmod"
    _write_repo(framework, {
        "Makefile": (FRAMEWORK_MAKEFILE.encode(), 0o644),
        "kmods-via-containers": (FRAMEWORK_SCRIPT.encode(), 0o755),
        "kmods-via-containers.conf": (FRAMEWORK_CONF.encode(), 0o644),
        "kmods-via-containers@.service": (TEMPLATE_UNIT.encode(), 0o644),
        "README.md": (b"# kmods-via-containers (fixture)\n", 0o644),
    })
    _write_repo(module, {
        "Makefile": (MODULE_MAKEFILE.encode(), 0o644),
        "simple-kmod-lib.sh": (MODULE_LIB.encode(), 0o644),
        "simple-kmod-wrapper.sh": (MODULE_WRAPPER.encode(), 0o755),
        "simple-kmod.conf": (MODULE_CONF.encode(), 0o644),
        "Dockerfile.rhel": (DOCKERFILE_RHEL.encode(), 0o644),
        "Dockerfile.fedora": (DOCKERFILE_FEDORA.encode(), 0o644),
        "extra/empty": (EMPTY, 0o644),
        "extra/blob.bin": (BLOB, 0o644),
        "extra/README.ja": (README_JA, 0o644),
    })
    git(module, "tag", "v1")
    git(module, "checkout", "--quiet", "-b", "next")
    (module / "simple-kmod.conf").write_text(MODULE_CONF.replace("dd1a7d4", "next1"))
    git(module, "commit", "--quiet", "-am", "next version")
    git(module, "checkout", "--quiet", "master")

    data = "/usr/local/share/simple-kmod"
    expected = {
        "/etc/kvc/kmods-via-containers.conf": (FRAMEWORK_CONF.encode(), 0o644),
        "/etc/systemd/system/kmods-via-containers@.service": (TEMPLATE_UNIT.encode(), 0o644),
        "/usr/local/bin/kmods-via-containers": (FRAMEWORK_SCRIPT.encode(), 0o755),
        "/etc/kvc/simple-kmod.conf": (MODULE_CONF.encode(), 0o644),
        "/usr/local/lib/kvc/simple-kmod-lib.sh": (MODULE_LIB.encode(), 0o644),
        "/usr/local/lib/kvc/simple-kmod-wrapper.sh": (MODULE_WRAPPER.encode(), 0o755),
        "/usr/local/bin/spkut": (MODULE_WRAPPER.encode(), 0o755),  # the link, dereferenced
    }
    for base in (f"{data}/data", f"{data}/current"):  # current -> data, dereferenced
        expected[f"{base}/empty"] = (EMPTY, 0o644)
        expected[f"{base}/blob.bin"] = (BLOB, 0o644)
        expected[f"{base}/README.ja"] = (README_JA, 0o644)
    return FixtureRepos(framework=framework, module=module, expected_tree=expected)


def tree_of(fakeroot: Path) -> dict[str, tuple[bytes, int]]:
    """Node path -> (bytes, mode) of every file under fakeroot, following symlinks (a test helper)."""
    tree = {}
    for dirpath, _dirs, files in os.walk(fakeroot, followlinks=True):
        for name in files:
            full = Path(dirpath, name)
            node = "/" + full.relative_to(fakeroot).as_posix()
            tree[node] = (full.read_bytes(), full.stat().st_mode & 0o7777)
    return tree


def make_entitlement_certs(directory: Path) -> Path:
    """A self-signed certificate and its key as an entitled host's /etc/pki/entitlement holds them
    (<serial>.pem, <serial>-key.pem), made by openssl; callers skip when openssl is missing."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-subj", "/CN=kmwizard-test", "-newkey", "rsa:2048",
                    "-keyout", str(directory / "4242-key.pem"), "-out", str(directory / "4242.pem"), "-days", "200"],
                   check=True, capture_output=True)
    return directory


# Fixtures shared by the test modules that run the KVC pipeline on these repositories (import them by name).
@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    return make_fixture_repos(tmp_path_factory.mktemp("repos"))


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Each test fetches into its own cache, so no test sees another's builds."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
