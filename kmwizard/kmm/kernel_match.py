"""Which kernel mapping a node kernel gets, and what KMM makes of it.

Follows the operator (internal/module/kernelmapper.go and the build/sign helpers): mappings are
tried in order; a ``literal`` must equal the kernel, a ``regexp`` must match somewhere in it (Go
``regexp.MatchString``: unanchored, RE2); the first match wins.  The mapping's ``build`` and
``sign`` are merged over the container-level ones: for build, the mapping's dockerfileConfigMap
replaces, its buildArgs override by name (new ones appended) and its secrets are appended; for
sign, unsignedImage/keySecret/certSecret replace and filesToSign are appended.  containerImage and
registryTLS come from the mapping, else from the container.  Kernel variables are then
substituted (``containerImage`` also gets ``MOD_NAME`` and ``MOD_NAMESPACE``).
"""
from __future__ import annotations

import copy
from typing import Optional

import re2

from kmwizard.kmm.variables import KERNEL_VARIABLES, kernel_variables, normalize_kernel, substitute
from kmwizard.records import field, record

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # we report the error ourselves


def compile_re2(pattern: str):
    """Compile like Go's regexp (RE2); raises ValueError with RE2's own message."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        message = exc.args[0] if exc.args else str(exc)
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        raise ValueError(message) from None


def mapping_matches(mapping: dict, kernel: str) -> bool:
    """Whether one kernelMappings entry takes this (normalized) kernel; ValueError on a bad regexp."""
    if mapping.get("literal"):
        return mapping["literal"] == kernel
    if mapping.get("regexp"):
        return compile_re2(mapping["regexp"]).search(kernel) is not None
    return False


def merge_build(container_build: Optional[dict], mapping_build: Optional[dict]) -> Optional[dict]:
    if container_build is None and mapping_build is None:
        return None
    if container_build is None:
        return copy.deepcopy(mapping_build)
    if mapping_build is None:
        return copy.deepcopy(container_build)
    merged = copy.deepcopy(container_build)
    if mapping_build.get("dockerfileConfigMap") is not None:
        merged["dockerfileConfigMap"] = copy.deepcopy(mapping_build["dockerfileConfigMap"])
    args = list(merged.get("buildArgs") or [])
    for override in mapping_build.get("buildArgs") or []:
        for i, arg in enumerate(args):
            if arg.get("name") == override.get("name"):
                args[i] = dict(override)
                break
        else:
            args.append(dict(override))
    if args:
        merged["buildArgs"] = args
    secrets = list(merged.get("secrets") or []) + list(mapping_build.get("secrets") or [])
    if secrets:
        merged["secrets"] = secrets
    return merged


def merge_sign(container_sign: Optional[dict], mapping_sign: Optional[dict]) -> Optional[dict]:
    if container_sign is None and mapping_sign is None:
        return None
    if container_sign is None:
        return copy.deepcopy(mapping_sign)
    if mapping_sign is None:
        return copy.deepcopy(container_sign)
    merged = copy.deepcopy(container_sign)
    for key in ("unsignedImage",):
        if mapping_sign.get(key):
            merged[key] = mapping_sign[key]
    for key in ("keySecret", "certSecret"):
        if mapping_sign.get(key) is not None:
            merged[key] = copy.deepcopy(mapping_sign[key])
    files = list(merged.get("filesToSign") or []) + list(mapping_sign.get("filesToSign") or [])
    if files:
        merged["filesToSign"] = files
    return merged


@record
class KernelMatch:
    kernel: str                          # as given
    matched_kernel: str                  # what KMM compares (trailing '+' trimmed)
    index: Optional[int] = None          # the winning mapping, or None
    mapping: Optional[dict] = None
    image_template: str = ""
    image: str = ""                      # after substitution
    build: Optional[dict] = None         # effective, after the merge
    sign: Optional[dict] = None          # effective, kernel variables substituted
    registry_tls: Optional[dict] = None
    in_tree_modules_to_remove: list = field(default_factory=list)
    problems: list = field(default_factory=list)  # bad regexps met on the way, empty image
    rejected: bool = False               # a regexp does not compile: the webhook rejects the Module

    @property
    def matched(self) -> bool:
        return self.index is not None

    def to_dict(self) -> dict:
        return {"kernel": self.kernel, "matchedKernel": self.matched_kernel, "matched": self.matched,
                "mappingIndex": self.index, "mapping": self.mapping, "imageTemplate": self.image_template,
                "image": self.image, "build": self.build, "sign": self.sign, "registryTLS": self.registry_tls,
                "inTreeModulesToRemove": self.in_tree_modules_to_remove, "problems": self.problems}

    def format(self) -> str:
        """A short human report, as the CLI and the TUI show it."""
        lines = [f"kernel {self.kernel}" + (f" (matched as {self.matched_kernel})"
                                              if self.matched_kernel != self.kernel else "")]
        lines += [f"  problem: {p}" for p in self.problems]
        if self.rejected:  # nothing is matched on a Module that never reaches the cluster
            return "\n".join(lines)
        if not self.matched:
            lines.append("  no mapping matches: nodes with this kernel are skipped silently (no module loaded)")
            return "\n".join(lines)
        how = (f"literal '{self.mapping['literal']}'" if self.mapping.get("literal")
               else f"regexp '{self.mapping.get('regexp')}'")
        lines.append(f"  mapping [{self.index}] {how} (first match wins)")
        lines.append(f"  image: {self.image}" + (f"   (from {self.image_template})"
                                                  if self.image_template != self.image else ""))
        if self.build:
            cm = (self.build.get("dockerfileConfigMap") or {}).get("name", "")
            text = f"  build: if the image is missing, from ConfigMap {cm}"
            if self.build.get("buildArgs"):
                text += "; args " + ", ".join(f"{a.get('name')}={a.get('value')}" for a in self.build["buildArgs"])
            if self.build.get("secrets"):
                text += "; secrets " + ", ".join(str(s.get("name") or "?") for s in self.build["secrets"] if s)
            lines.append(text)
        else:
            lines.append("  build: none (the image must exist)")
        if self.sign:
            lines.append(f"  sign: key {(self.sign.get('keySecret') or {}).get('name')}, cert "
                         f"{(self.sign.get('certSecret') or {}).get('name')}, files "
                         f"{', '.join(self.sign.get('filesToSign') or []) or '(none)'}"
                         + (f", unsigned image {self.sign['unsignedImage']}" if self.sign.get("unsignedImage")
                            else ""))
        else:
            lines.append("  sign: no")
        if self.in_tree_modules_to_remove:
            lines.append(f"  in-tree modules removed first: {', '.join(self.in_tree_modules_to_remove)}")
        return "\n".join(lines)


def _container(module: dict) -> dict:
    return ((module.get("spec") or {}).get("moduleLoader") or {}).get("container") or {}


def match_kernel(module: dict, kernel: str) -> KernelMatch:
    """Resolve one kernel against a Module (a manifest, or a ManagedClusterModule's moduleSpec)."""
    if module.get("kind") == "ManagedClusterModule":
        meta = module.get("metadata") or {}
        module = {"metadata": {"name": meta.get("name", ""),
                               "namespace": (module.get("spec") or {}).get("spokeNamespace", "")},
                  "spec": (module.get("spec") or {}).get("moduleSpec") or {}}
    meta = module.get("metadata") or {}
    container = _container(module)
    kernel_key = normalize_kernel(kernel)
    result = KernelMatch(kernel=kernel, matched_kernel=kernel_key)
    for index, mapping in enumerate(container.get("kernelMappings") or []):
        try:
            hit = mapping_matches(mapping, kernel_key)
        except ValueError as exc:
            # One true thing: the KMM webhook compiles every regexp and rejects the Module (docs/kmm.md
            # webhook rule 6), so this Module never reaches the cluster; no match is tried after it.
            result.problems.append(f"mapping [{index}] regexp '{mapping.get('regexp')}' does not compile in RE2 "
                                   f"({exc}): the KMM webhook rejects this Module, so no node gets the module "
                                   "until the regexp is fixed")
            result.rejected = True
            return result
        if hit:
            result.index, result.mapping = index, copy.deepcopy(mapping)
            break
    if result.index is None:
        return result
    mapping = result.mapping
    kvars = kernel_variables(kernel_key)
    result.image_template = mapping.get("containerImage") or container.get("containerImage") or ""
    result.image = substitute(result.image_template, {**kvars, "MOD_NAME": meta.get("name", ""),
                                                      "MOD_NAMESPACE": meta.get("namespace", "")})
    if not result.image:
        result.problems.append("neither the mapping nor the container sets containerImage")
    result.build = merge_build(container.get("build"), mapping.get("build"))
    sign = merge_sign(container.get("sign"), mapping.get("sign"))
    if sign is not None:
        # Only kernel variables exist for sign fields; the raw kernel (not tag-safe) goes into paths.
        raw = {**kvars, "KERNEL_FULL_VERSION": kernel_key, "KERNEL_VERSION": kernel_key}
        raw = {k: raw[k] for k in KERNEL_VARIABLES}
        if sign.get("unsignedImage"):
            sign["unsignedImage"] = substitute(sign["unsignedImage"], kvars)
        sign["filesToSign"] = [substitute(f, raw) for f in sign.get("filesToSign") or []]
    result.sign = sign
    result.registry_tls = mapping.get("registryTLS", container.get("registryTLS"))
    result.in_tree_modules_to_remove = list(mapping.get("inTreeModulesToRemove")
                                            or container.get("inTreeModulesToRemove")
                                            or [x for x in [mapping.get("inTreeModuleToRemove")
                                                            or container.get("inTreeModuleToRemove")] if x])
    return result

