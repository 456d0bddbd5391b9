"""Files of the node a kernel-module config must not replace, and files that hold secrets.

A fakeroot is copied onto the node byte for byte.  A Makefile that installs into ``$(CONFDIR)``
can just as well drop a ``passwd`` or a kubelet config there; on the node that replaces the copy
RHCOS, the kubelet and the machine-config-daemon rely on (logins, the node's credentials, the
container runtime), and the node breaks in ways that do not point back at the module.
"""
from __future__ import annotations

from typing import Optional

from kmwizard.regexps import lazy

# path -> what it is (exact paths)
NODE_FILES = {
    "/etc/shadow": "the node's password hashes",
    "/etc/gshadow": "the node's group passwords",
    "/etc/passwd": "the node's users (core, root and the system users)",
    "/etc/group": "the node's groups",
    "/etc/sudoers": "who may use sudo",
    "/etc/machine-id": "the node's identity",
    "/etc/mcs-machine-config-content.json": "the machine-config-daemon's first-boot config",
    "/etc/ignition-machine-config-encapsulated.json": "the machine-config-daemon's first-boot config",
    "/etc/containers/registries.conf": "CRI-O's registries (managed by the MCO)",
    "/etc/containers/policy.json": "CRI-O's image signature policy (managed by the MCO)",
    "/etc/containers/storage.conf": "the container storage config (managed by the MCO)",
    "/etc/systemd/system/kubelet.service": "the kubelet's unit",
    "/etc/systemd/system/crio.service": "CRI-O's unit",
}
# prefix -> what lives there
NODE_DIRS = {
    "/etc/kubernetes/": "the kubelet's config and the node's credentials",
    "/var/lib/kubelet/": "the kubelet's state and pull secret",
    "/etc/machine-config-daemon/": "the machine-config-daemon's state",
    "/etc/crio/": "CRI-O's config (managed by the MCO)",
    "/etc/ssh/": "the node's SSH host keys and sshd config",
}


def node_file_reason(path: str) -> Optional[str]:
    """What the node uses ``path`` for, when a config must not replace it; else None."""
    if path in NODE_FILES:
        return NODE_FILES[path]
    for prefix, what in NODE_DIRS.items():
        if path.startswith(prefix):
            return what
    return None


_PRIVATE_KEY_MARK = b"PRIVATE KEY-----"
# a PEM block, not just the words: binaries linked with OpenSSL carry the header as a C string
_PEM_PRIVATE_KEY = lazy(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\r?\n[A-Za-z0-9+/=:,\- \r\n]{16}")


def holds_private_key(data: bytes) -> bool:
    return _PRIVATE_KEY_MARK in data and _PEM_PRIVATE_KEY.search(data) is not None


def is_secret(data: bytes, mode: int) -> bool:
    """A file only its owner may read (0600, 0400...) or holding a PEM private key."""
    return (mode & 0o077) == 0 or holds_private_key(data)
