"""Fakeroot trees for the KVC tests, built the way two `make install DESTDIR=$FAKEROOT/usr/local
CONFDIR=$FAKEROOT/etc/` runs lay them out (docs/kvc-machineconfig.md section 2), plus the corner cases
filetranspiler got wrong.  ``build_kvc_tree`` returns what a node must end up with: {path: (bytes, mode)},
written down here from the tree's own definition, not computed by kmwizard."""
from __future__ import annotations

import os
import random
from pathlib import Path

MODULE = "simple-kmod"

TEMPLATE_UNIT = b"""[Unit]
Description=Load kernel modules for %i using kmods-via-containers
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
RemainAfterExit=true
ExecStartPre=/usr/local/bin/kmods-via-containers build %i %v
ExecStart=/usr/local/bin/kmods-via-containers load %i %v
ExecStop=/usr/local/bin/kmods-via-containers unload %i %v

[Install]
WantedBy=multi-user.target
"""

INSTANCE_CONF = b"""# kvc-simple-kmod: values for /usr/local/bin/kmods-via-containers
KMOD_CONTAINER_BUILD_CONTEXT="https://github.com/kmods-via-containers/kvc-simple-kmod.git"
KMOD_CONTAINER_BUILD_FILE=Dockerfile.rhel
KMOD_SOFTWARE_VERSION=dd1a7d4
KMOD_NAMES="simple-kmod simple-procfs-kmod"
"""

SCRIPT = b"""#!/bin/bash
set -eu
# 100% shell: "quotes", 'ticks', #hashes, ?marks, <angles>, {braces}, [brackets], back\\slash, `ticks`
source /usr/local/lib/kvc/${1}-lib.sh
echo "\tloading $1 on $(uname -r)" >&2
"""


def build_kvc_tree(base: Path, name: str = "fakeroot") -> tuple[Path, dict[str, tuple[bytes, int]]]:
    """Build the tree under ``base/name``; returns (fakeroot, expected node files)."""
    rng = random.Random(1234)
    root = Path(base) / name
    expected: dict[str, tuple[bytes, int]] = {}

    def put(path: str, data: bytes, mode: int = 0o644) -> None:
        full = root / path.lstrip("/")
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(data)
        os.chmod(full, mode)
        expected[path] = (data, mode)

    def link(path: str, target: str) -> None:
        full = root / path.lstrip("/")
        full.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, full)

    put("/etc/kvc/kmods-via-containers.conf", b"KVC_CONTAINER_RUNTIME=podman\n")
    put(f"/etc/kvc/{MODULE}.conf", INSTANCE_CONF)
    put("/etc/systemd/system/kmods-via-containers@.service", TEMPLATE_UNIT)
    put("/usr/local/bin/kmods-via-containers", SCRIPT, 0o755)
    put(f"/usr/local/lib/kvc/{MODULE}-lib.sh", b"build_kmod() {\n  podman build -t x .\n}\n")
    wrapper = b"#!/bin/bash\r\nexec podman run --rm -it simple-kmod spkut \"$@\"\r\n"
    put(f"/usr/local/lib/kvc/{MODULE}-wrapper.sh", wrapper, 0o755)
    # relative link to a file: the node gets the target's bytes and mode under the link's path
    link("/usr/local/bin/spkut", f"../lib/kvc/{MODULE}-wrapper.sh")
    expected["/usr/local/bin/spkut"] = (wrapper, 0o755)
    # a folder with the fakeroot's own name inside the tree (filetranspiler mangled these paths)
    put(f"/etc/{name}/{name}.conf", b"inside=1\n")
    put("/usr/local/share/empty", b"")
    put("/usr/local/lib/kvc/blob.bin", bytes(rng.getrandbits(8) for _ in range(5000)))
    put("/usr/local/lib/kvc/zeros.bin", b"\0" * 3000 + bytes(range(256)))
    put("/etc/kvc/モジュール.conf", "名前=simple-kmod\n".encode())
    put("/etc/a/b/c/d/e/f/g/h/i/j/k/l/deep.conf", b"deep=yes")
    put("/etc/kvc/big.txt", b"".join(b"line %d: the quick brown fox\n" % i for i in range(800)))
    put("/etc/kvc/safe.txt", b"only-safe-chars:/a/b?c=d&e=f+g;h,i@j$k!l~m*n'(o)p")
    put("/etc/kvc/private.key", b"not really a key\n", 0o600)
    # link to a directory: its files appear below the link's path
    link("/usr/local/share/kvc", "../lib/kvc")
    for path, value in list(expected.items()):
        if path.startswith("/usr/local/lib/kvc/"):
            expected["/usr/local/share/kvc/" + path.rsplit("/", 1)[1]] = value
    return root, expected
