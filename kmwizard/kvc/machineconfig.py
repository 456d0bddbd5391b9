"""The MachineConfig that carries the Ignition config to a pool."""
from __future__ import annotations

from kmwizard.findings import KmwizardError
from kmwizard.keys import DNS1123_LABEL, DNS1123_SUBDOMAIN
from kmwizard.keys import default_mc_name as default_name  # noqa: F401 (the key's default)

API_VERSION = "machineconfiguration.openshift.io/v1"
ROLE_LABEL = "machineconfiguration.openshift.io/role"


def validate_mc_name(name: str) -> str | None:
    """None when ``name`` is a valid MachineConfig name (a DNS-1123 subdomain), else the reason."""
    if not isinstance(name, str) or not name:
        return "the MachineConfig name is empty"
    if len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
        return (f"MachineConfig name {name!r} is not a DNS-1123 subdomain (lower-case letters, digits, '-' "
                "and '.', starting and ending with a letter or digit, at most 253 characters)")
    return None


def validate_role(role: str) -> str | None:
    if not isinstance(role, str) or len(role) > 63 or not DNS1123_LABEL.match(role):
        return (f"pool role {role!r} is not valid: worker, master, or a custom pool name made of lower-case "
                "letters, digits and '-'")
    return None


def machineconfig(*, name: str, role: str, config: dict) -> dict:
    """A MachineConfig for the pool of ``role`` holding the Ignition ``config``."""
    for problem, fix in ((validate_mc_name(name), "use e.g. 99-worker-kvc-simple-kmod"),
                         (validate_role(role), "use worker or master, or the role of a custom pool")):
        if problem:
            raise KmwizardError(problem, fix)
    return {
        "apiVersion": API_VERSION,
        "kind": "MachineConfig",
        "metadata": {"name": name, "labels": {ROLE_LABEL: role}},
        "spec": {"config": config},
    }
