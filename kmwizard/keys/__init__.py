"""The answer keys: one declaration per dotted key, shared by answer files, ``--set``,
the wizard flow and both front ends.

A key declares its type, its allowed values, its default (a value, or a function of
the other answers) and a help text written for the user.  ``kmwizard.answers`` checks
values against these declarations; nothing else hard-codes key names' types.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Optional, Protocol

from kmwizard.records import record
from kmwizard.regexps import lazy


class Answers(Protocol):
    """What a default or a validator reads of the answers: ``kmwizard.answers.Answers``, which
    sits a layer above the key declarations (it checks values against them)."""

    def get(self, key: str) -> Any: ...

# Value kinds an answer can have.  "choice" is a str restricted to `choices`.
KINDS = ("str", "int", "bool", "choice", "list", "map", "records")

Default = Any  # a plain value, or Callable[[Answers], Any]
Validator = Callable[[Any, "Answers"], Optional[str]]  # returns an error message or None


@record(frozen=True)
class KeySpec:
    key: str
    kind: str
    help: str
    default: Default = None
    choices: tuple = ()
    validate: Optional[Validator] = None
    methods: tuple = ("kvc", "kmm")  # which methods read this key
    secret: bool = False  # the value points at key material: never echoed
    example: str = ""  # shown in docs and prompts

    def default_for(self, answers: "Answers") -> Any:
        return self.default(answers) if callable(self.default) else self.default


# --- validators -------------------------------------------------------------------

DNS1123_SUBDOMAIN = lazy(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = lazy(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
OPENSHIFT_VERSION = lazy(r"^4\.(\d{1,2})$")


def yum_repo_url(value: Any, _answers: "Answers") -> Optional[str]:
    if value and (not re.match(r"^https?://[^/\s]+", str(value)) or any(c.isspace() for c in str(value))):
        return (f"{value!r} is not an http(s) URL without spaces: the build container must reach the "
                "repository over the network (yum's baseurl)")
    return None


def dns1123_subdomain(value: Any, _answers: "Answers") -> Optional[str]:
    if value in (None, ""):
        return None
    if len(value) > 253 or not DNS1123_SUBDOMAIN.match(value):
        return (f"{value!r} is not a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', "
                "starting and ending with a letter or digit, at most 253 characters")
    return None


def dns1123_label(value: Any, _answers: "Answers") -> Optional[str]:
    if value in (None, ""):
        return None
    if len(value) > 63 or not DNS1123_LABEL.match(value):
        return (f"{value!r} is not a DNS-1123 label: lower-case letters, digits and '-', "
                "starting and ending with a letter or digit, at most 63 characters")
    return None


def required_dns1123_label(value: Any, answers: "Answers") -> Optional[str]:
    if value in (None, ""):
        return "cannot be empty: give a DNS-1123 label (lower-case letters, digits and '-')"
    return dns1123_label(value, answers)


def required_dns1123_subdomain(value: Any, answers: "Answers") -> Optional[str]:
    if value in (None, ""):
        return "cannot be empty: give a DNS-1123 subdomain (lower-case letters, digits, '-' and '.')"
    return dns1123_subdomain(value, answers)


# Label keys and values, as apimachinery's validation.IsQualifiedName and IsValidLabelValue check them.
_QUALIFIED_NAME = lazy(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def label_problem(key: Any, value: Any) -> Optional[str]:
    """What the API server would say about one label (selector) entry, or None."""
    if not isinstance(key, str) or not key:
        return f"label key {key!r} is empty or not a string"
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        return f"label key {key!r}: the prefix before '/' must be a DNS-1123 subdomain (e.g. example.com)"
    if len(name) > 63 or not _QUALIFIED_NAME.match(name):
        return (f"label key {key!r}: the name must be at most 63 characters of letters, digits, '-', '_' and '.', "
                "starting and ending with a letter or digit")
    if not isinstance(value, str):
        return f"label {key}={value!r}: label values are strings (use \"\" for none, quote true/false and numbers)"
    if value and (len(value) > 63 or not _QUALIFIED_NAME.match(value)):
        return (f"label {key}={value!r}: label values are empty or at most 63 characters of letters, digits, "
                "'-', '_' and '.', starting and ending with a letter or digit")
    return None


def no_climbing(value: Any, _answers: "Answers") -> Optional[str]:
    """A build file path without '..': relative ones stay in the module repository, absolute ones name a
    file the MachineConfig delivers (/etc/kvc/<name>-build/Dockerfile)."""
    if value and ".." in str(value).split("/"):
        return (f"{value!r} climbs with '..' and leaves the repository: give a path inside the module "
                "repository, or the absolute path of a file the tree delivers")
    return None


def openshift_version(value: Any, _answers: "Answers") -> Optional[str]:
    match = OPENSHIFT_VERSION.match(str(value))
    if not match or int(match.group(1)) < 6:
        return f"{value!r} is not an OpenShift 4 minor version from 4.6 on, written like \"4.14\""
    return None


def role_name(value: Any, _answers: "Answers") -> Optional[str]:
    # A pool's role is used in the label machineconfiguration.openshift.io/role and in names.
    if not value or len(value) > 63 or not DNS1123_LABEL.match(value):
        return (f"{value!r} is not a valid pool role: use worker, master, or a custom pool name made of "
                "lower-case letters, digits and '-'")
    return None


def ssh_public_key(value: Any, _answers: "Answers") -> Optional[str]:
    if value in (None, ""):
        return None
    parts = str(value).split()
    if len(parts) < 2 or not (parts[0].startswith(("ssh-", "ecdsa-", "sk-"))):
        return ("this is not an OpenSSH public key line (expected e.g. 'ssh-ed25519 AAAA... user@host'); "
                "give the contents of your ~/.ssh/id_*.pub, not a private key or a file name")
    if "PRIVATE KEY" in str(value):
        return "this looks like a private key: give the public key (the .pub file) only"
    return None


def _overlay_records(value: Any, answers: "Answers") -> Optional[str]:
    if not value:
        return None  # no records to check (most answers): the overlay module is not needed
    from kmwizard.overlay import check_records

    return check_records(value, answers)


# --- defaults that depend on other answers ----------------------------------------

def default_mc_name(*, role: str, module_name: str) -> str:
    # Pools merge MachineConfigs sorted by name and later ones win: user configs use 99-.
    return f"99-{role}-kvc-{module_name}"


def _default_mc_name(answers: "Answers") -> str:
    return default_mc_name(role=answers.get("role"), module_name=answers.get("kvc.module_name"))


UPSTREAM_FRAMEWORK = "https://github.com/kmods-via-containers/kmods-via-containers.git"
UPSTREAM_SIMPLE_KMOD = "https://github.com/kmods-via-containers/kvc-simple-kmod.git"

COMMON_KEYS: tuple[KeySpec, ...] = (
    KeySpec("method", "choice", choices=("kvc", "kmm"), default="kvc",
            help="How the module reaches the nodes. kvc: kmods-via-containers delivered in a MachineConfig "
                 "(works without any operator, on day 1 or day 2). kmm: a Kernel Module Management Module "
                 "(OpenShift 4.12+ with the KMM operator installed; builds and loads per kernel)."),
    KeySpec("day", "int", choices=(1, 2), default=2, methods=("kvc",),
            help="1: the MachineConfig goes into the manifests of openshift-install, so the module is there "
                 "on the first boot. 2: a running cluster gets it through the Machine Config Operator, "
                 "which drains and reboots each node of the pool."),
    KeySpec("role", "str", default="worker", validate=role_name,
            help="The nodes that get the module: worker, master, or a custom pool such as infra. For KVC "
                 "this is the MachineConfigPool role label; for KMM the node-role label of spec.selector."),
    KeySpec("openshift_version", "str", default="4.14", validate=openshift_version, example="4.14",
            help="The OpenShift version of the cluster (x.y). It decides the Ignition spec version, whether "
                 "gzip is safe, and which KMM fields exist."),
    KeySpec("ssh_key", "str", default="", validate=ssh_public_key, methods=("kvc",),
            help="Day 1 only: an SSH public key for the core user, added as sshAuthorizedKeys. Leave empty "
                 "to rely on the install-config's key."),
    KeySpec("entitlement.source", "choice", choices=("node", "certs", "yum-repo"), default="node",
            help="Where the build finds kernel-devel for the node's kernel. node: the nodes are already "
                 "entitled (or KMM's Driver Toolkit is used). certs: RHEL entitlement certificates from "
                 "entitlement.certs_dir are delivered with the config. yum-repo: a yum repository that "
                 "carries the nodes' exact kernel packages is added to the build."),
    KeySpec("entitlement.certs_dir", "str", default="", secret=True, example="/etc/pki/entitlement",
            help="A directory with <serial>.pem and <serial>-key.pem pairs, as /etc/pki/entitlement on an "
                 "entitled RHEL host. The keys are never shown; the output files holding them are 0600."),
    KeySpec("entitlement.yum_repo", "str", default="", example="https://repo.example.com/rhel9/",
            validate=yum_repo_url,
            help="The baseurl of a yum repository carrying kernel-devel and kernel-headers for the nodes' "
                 "exact kernel (and for every kernel an upgrade brings)."),
    KeySpec("overlay", "records", default=(), validate=_overlay_records,
            example="[{object: MachineConfig/99-worker-kvc-simple-kmod, path: spec.config.passwd.users[name=core]"
                    ".groups, value: [sudo]}]",
            help="Written by `kmwizard import`: fields of the imported objects that the other answers cannot "
                 "express, kept verbatim. Each {object: Kind/name, path: field path, value} is set on the "
                 "generated object, so generating reproduces the original. Remove a record to drop the field."),
)

KVC_KEYS: tuple[KeySpec, ...] = (
    KeySpec("kvc.framework_repo", "str", default=UPSTREAM_FRAMEWORK, methods=("kvc",),
            help="The kmods-via-containers framework: a git URL (https) or a local directory."),
    KeySpec("kvc.framework_ref", "str", default="master", methods=("kvc",),
            help="Branch, tag or commit of the framework repository (ignored for a local directory that "
                 "is not a git checkout)."),
    KeySpec("kvc.module_repo", "str", default=UPSTREAM_SIMPLE_KMOD, methods=("kvc",),
            help="The KVC instance for your module (like kvc-simple-kmod): a git URL (https) or a local "
                 "directory whose Makefile installs the instance conf, library and wrapper."),
    KeySpec("kvc.module_ref", "str", default="master", methods=("kvc",),
            help="Branch, tag or commit of the module repository."),
    KeySpec("kvc.module_name", "str", default="simple-kmod", validate=dns1123_label, methods=("kvc",),
            help="The KVC instance name: /etc/kvc/<name>.conf and kmods-via-containers@<name>.service."),
    KeySpec("kvc.fakeroot", "str", default="", methods=("kvc",),
            help="Use this existing tree (as made by make install into a fakeroot) instead of fetching and "
                 "installing the repositories."),
    KeySpec("kvc.overwrite_node_files", "list", default=(), methods=("kvc",), example="/etc/crio/crio.conf.d/99-x",
            help="Node files (such as /etc/passwd, /etc/kubernetes/..., /etc/crio/...) the tree may replace on "
                 "purpose. Without this a tree that installs one is refused: replacing them breaks logins, the "
                 "kubelet or the container runtime."),
    KeySpec("kvc.enable_style", "choice", choices=("auto", "require-unit", "template-instance"), default="auto",
            methods=("kvc",),
            help="How the service gets enabled. require-unit: a small require-kvc-<name>.service that "
                 "requires the instance (the docs' way, works everywhere). template-instance: enable "
                 "kmods-via-containers@<name>.service directly (newer RHCOS). auto picks what is known to "
                 "work for the OpenShift version."),
    KeySpec("kvc.software_version", "str", default="", methods=("kvc",),
            help="Override KMOD_SOFTWARE_VERSION in the instance conf. It must equal `modinfo -F version` "
                 "of each built .ko, or the unit rebuilds on every boot and fails."),
    KeySpec("kvc.build_file", "str", default="Dockerfile.rhel", methods=("kvc",), validate=no_climbing,
            help="The Dockerfile the node builds with (KMOD_CONTAINER_BUILD_FILE). Upstream's default "
                 "Dockerfile.fedora does not work on RHCOS."),
    KeySpec("machineconfig.name", "str", default=_default_mc_name, validate=required_dns1123_subdomain,
            methods=("kvc",),
            help="The MachineConfig's name. Pools merge MachineConfigs sorted by name and later ones win, "
                 "so user configs start with 99-."),
    KeySpec("output.install_dir", "str", default="", methods=("kvc",),
            help="Day 1: the openshift-install directory (after `openshift-install create manifests`); "
                 "files go into its openshift/ folder."),
)


def _all_keys() -> dict[str, KeySpec]:
    from kmwizard.keys.kmm import KMM_KEYS  # the kmm.* keys have their own module

    specs = {}
    for spec in (*COMMON_KEYS, *KVC_KEYS, *KMM_KEYS):
        assert spec.kind in KINDS, spec
        assert spec.key not in specs, f"duplicate key {spec.key}"
        specs[spec.key] = spec
    return specs


KEYS: dict[str, KeySpec] = _all_keys()


def spec_for(key: str) -> KeySpec:
    from kmwizard.findings import UsageError

    try:
        return KEYS[key]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(key, KEYS, n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close[:3])}?" if close else "run `kmwizard keys` to list them"
        raise UsageError(f"unknown answer key {key!r}", hint) from None
