"""KMM's variable substitution and image references, as the operator does them.

KMM expands ``containerImage`` (and, with kernel variables only, ``sign.unsignedImage`` and
``sign.filesToSign``) with a8m/envsubst: ``$NAME`` and ``${NAME}``; unknown names become
empty without any error, and ``$MOD_NAME_v2`` reads the variable ``MOD_NAME_v2``.
"""
from __future__ import annotations

import re
from typing import Optional

from kmwizard.keys.envsubst import SubstitutionError, envsubst, explain, substitute  # noqa: F401 - KMM's substitution

from kmwizard.records import record
from kmwizard.regexps import lazy

KERNEL_VARIABLES = ("KERNEL_FULL_VERSION", "KERNEL_VERSION", "KERNEL_XYZ", "KERNEL_X", "KERNEL_Y", "KERNEL_Z")
MODULE_VARIABLES = ("MOD_NAME", "MOD_NAMESPACE")
IMAGE_VARIABLES = KERNEL_VARIABLES + MODULE_VARIABLES

# $$ (an escaped dollar), ${NAME...} with an optional envsubst operator, or $NAME.
_REFERENCE = lazy(r"\$\$|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>[^}]*)\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)")
_UNSAFE_TAG_CHARS = lazy(r"[^A-Za-z0-9._-]")


@record(frozen=True)
class Reference:
    name: str
    braced: bool
    text: str  # as written


def references(template: str) -> list[Reference]:
    """Every variable a template reads, in order."""
    found = []
    for match in _REFERENCE.finditer(template or ""):
        if match.group(0) == "$$":
            continue
        name = match.group("braced") or match.group("bare")
        found.append(Reference(name, match.group("braced") is not None, match.group(0)))
    return found


def trim_kernel(kernel: str) -> str:
    """The kernel KMM matches: nodeInfo.kernelVersion with exactly one trailing '+' trimmed
    (strings.TrimSuffix in internal/controllers/module_reconciler.go)."""
    kernel = kernel.strip()
    return kernel[:-1] if kernel.endswith("+") else kernel


def normalize_version(kernel: str) -> str:
    """KMM's kernel.NormalizeVersion (internal/kernel/kernel.go): every character outside
    [A-Za-z0-9._-] becomes '_'.  Variables are computed from this form."""
    return _UNSAFE_TAG_CHARS.sub("_", kernel)


class KernelVersionError(ValueError):
    """KMM's KernelComponentsAsEnvVars refuses a kernel with fewer than three [.,-] fields."""


def kernel_variables(kernel: str) -> dict[str, str]:
    """KERNEL_* as utils.KernelComponentsAsEnvVars computes them from the (normalized) kernel."""
    parts = re.split(r"[.,-]", kernel)
    if len(parts) < 3:
        raise KernelVersionError(f"invalid kernel version {kernel}: expected at least three components "
                                 "(major.minor.patch)")
    return {
        "KERNEL_FULL_VERSION": kernel,
        "KERNEL_VERSION": kernel,
        "KERNEL_XYZ": ".".join(parts[:3]),
        "KERNEL_X": parts[0],
        "KERNEL_Y": parts[1],
        "KERNEL_Z": parts[2],
    }


# --- image references ---------------------------------------------------------------

_TAG = lazy(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = lazy(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")
_REPO_PATH_COMPONENT = lazy(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")


@record(frozen=True)
class ImageRef:
    repository: str
    tag: str = ""
    digest: str = ""


def parse_image(reference: str) -> tuple[Optional[ImageRef], str]:
    """(ImageRef, "") or (None, why it is not a valid image reference).

    The tag is looked for on the last path component only, so ``registry:5000/img`` has none.
    """
    ref = reference.strip()
    if not ref:
        return None, "the image reference is empty"
    if any(c.isspace() for c in ref):
        return None, "an image reference cannot contain spaces"
    digest = ""
    if "@" in ref:
        ref, digest = ref.split("@", 1)
        if not _DIGEST.match(digest):
            return None, f"digest {digest!r} is not algorithm:hex (e.g. sha256:<64 hex digits>)"
    head, _, last = ref.rpartition("/")
    tag = ""
    if ":" in last:
        last, tag = last.split(":", 1)
        if not _TAG.match(tag):
            return None, (f"tag {tag!r} is not a valid tag: letters, digits, '_', '.', '-', at most 128, "
                          "not starting with '.' or '-'")
    components = ([c for c in head.split("/")[1:]] if head and _looks_like_registry(head.split("/")[0])
                  else head.split("/") if head else []) + [last]
    for component in components:
        if not _REPO_PATH_COMPONENT.match(component):
            return None, (f"repository path component {component!r} is not valid: lower-case letters, digits, "
                          "and single separators '.', '_', '__' or '-'")
    return ImageRef(f"{head}/{last}" if head else last, tag, digest), ""


def _looks_like_registry(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"
