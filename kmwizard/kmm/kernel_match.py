"""Which kernel mapping a node kernel gets, and what KMM makes of it.

Mirrors KMM's kernel mapper (internal/module/kernelmapper.go, GetModuleLoaderDataForKernel):
the node's kernelVersion loses exactly one trailing '+' (strings.TrimSuffix in the reconcilers);
mappings are tried in order (findKernelMapping): a non-empty ``literal`` equal to the kernel
wins, else a ``regexp`` matching somewhere in it (Go's regexp.MatchString: unanchored), and the
first regexp Go cannot compile stops the search with an error.  The mapping's ``build`` and
``sign`` are merged over the container-level ones (getRelevantBuild / getRelevantSign).
Variables come from the *normalized* kernel (kernel.NormalizeVersion: characters outside
[A-Za-z0-9._-] become '_'); a kernel with fewer than three [.,-] fields, or an unterminated
``${``, is an error for that kernel, so its nodes get nothing.  ``sign.unsignedImage`` and
``sign.filesToSign`` get the kernel variables; ``containerImage`` also MOD_NAME and
MOD_NAMESPACE.  Builds get KMM's own build args (internal/buildsign/resource/common.go
buildSpec), which override the user's of the same name: KERNEL_VERSION and
KERNEL_FULL_VERSION are the raw (trimmed, not normalized) kernel.
"""
from __future__ import annotations

import copy
from typing import Optional

from kmwizard.keys.goregexp import GoRegexpError, compile_go
from kmwizard.kmm.variables import (KernelVersionError, SubstitutionError, explain, kernel_variables, normalize_version,
                                    substitute, trim_kernel)
from kmwizard.records import field, record


def mapping_matches(mapping: dict, kernel: str) -> bool:
    """Whether one kernelMappings entry takes this (trimmed) kernel, as findKernelMapping decides:
    the literal first, then the regexp, both when both are set.  ValueError on a bad regexp."""
    if mapping.get("literal") and mapping["literal"] == kernel:
        return True
    if mapping.get("regexp"):
        return compile_go(mapping["regexp"]).search(kernel) is not None
    return False


def override_build_args(args: list, overrides: list) -> list:
    """buildArgOverrider.ApplyBuildArgOverrides: every arg named like an override is replaced (the
    last override of a name wins), the unused overrides are appended sorted by name."""
    by_name = {o.get("name"): dict(o) for o in overrides}
    result, used = [], set()
    for arg in args:
        name = arg.get("name")
        if name in by_name:
            result.append(dict(by_name[name]))
            used.add(name)
        else:
            result.append(dict(arg))
    return result + [by_name[name] for name in sorted(set(by_name) - used, key=str)]


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
    args = override_build_args(list(merged.get("buildArgs") or []), list(mapping_build.get("buildArgs") or []))
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


# The build args KMM sets on every build (buildSpec); DTK_AUTO only when the Dockerfile names it.
INJECTED_BUILD_ARGS = ("KERNEL_VERSION", "KERNEL_FULL_VERSION", "MOD_NAME", "MOD_NAMESPACE")


@record
class KernelMatch:
    kernel: str                          # as given
    matched_kernel: str                  # what KMM compares (one trailing '+' trimmed)
    index: Optional[int] = None          # the winning mapping, or None
    mapping: Optional[dict] = None
    image_template: str = ""
    image: str = ""                      # after substitution
    build: Optional[dict] = None         # effective, after the merge (as KMM's ModuleLoaderData.Build)
    build_args: list = field(default_factory=list)  # what the build really gets: KMM's args override
    dockerfile_read: bool = False        # whether DTK_AUTO could be decided from the Dockerfile
    sign: Optional[dict] = None          # effective, kernel variables substituted
    registry_tls: Optional[dict] = None
    in_tree_modules_to_remove: list = field(default_factory=list)
    problems: list = field(default_factory=list)  # KMM errors: nodes with this kernel get nothing
    warnings: list = field(default_factory=list)  # accepted by KMM, but likely to fail

    @property
    def matched(self) -> bool:
        return self.index is not None

    @property
    def normalized_kernel(self) -> str:
        return normalize_version(self.matched_kernel)

    def to_dict(self) -> dict:
        return {"kernel": self.kernel, "matchedKernel": self.matched_kernel, "matched": self.matched,
                "mappingIndex": self.index, "mapping": self.mapping, "imageTemplate": self.image_template,
                "image": self.image, "build": self.build, "sign": self.sign, "registryTLS": self.registry_tls,
                "inTreeModulesToRemove": self.in_tree_modules_to_remove, "problems": self.problems,
                "normalizedKernel": self.normalized_kernel, "buildArgs": self.build_args,
                "warnings": self.warnings}

    def format(self) -> str:
        """A short human report, as the CLI and the TUI show it."""
        lines = [f"kernel {self.kernel}" + (f" (matched as {self.matched_kernel})"
                                              if self.matched_kernel != self.kernel else "")]
        lines += [f"  problem: {p}" for p in self.problems]
        lines += [f"  warning: {w}" for w in self.warnings]
        if not self.matched:
            if not self.problems:
                lines.append("  no mapping matches: nodes with this kernel are skipped silently (no module loaded)")
            return "\n".join(lines)
        literal, regexp = self.mapping.get("literal"), self.mapping.get("regexp")
        how = (f"literal '{literal}'" if literal and literal == self.matched_kernel else f"regexp '{regexp}'")
        lines.append(f"  mapping [{self.index}] {how} (first match wins)")
        if self.problems:
            return "\n".join(lines)
        lines.append(f"  image: {self.image}" + (f"   (from {self.image_template})"
                                                  if self.image_template != self.image else ""))
        if self.build:
            cm = (self.build.get("dockerfileConfigMap") or {}).get("name", "")
            text = f"  build: if the image is missing, from ConfigMap {cm}"
            if self.build_args:
                text += "; args " + ", ".join(f"{a.get('name')}={a.get('value')}" for a in self.build_args)
                text += "" if self.dockerfile_read else " (DTK_AUTO too if the Dockerfile names it)"
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


def match_kernel(module: dict, kernel: str, dockerfiles: Optional[dict] = None) -> KernelMatch:
    """Resolve one kernel against a Module (a manifest, or a ManagedClusterModule's moduleSpec).
    ``dockerfiles``: ConfigMap name -> Dockerfile text, when known (for the DTK_AUTO build arg)."""
    if module.get("kind") == "ManagedClusterModule":
        meta = module.get("metadata") or {}
        module = {"metadata": {"name": meta.get("name", ""),
                               "namespace": (module.get("spec") or {}).get("spokeNamespace", "")},
                  "spec": (module.get("spec") or {}).get("moduleSpec") or {}}
    meta = module.get("metadata") or {}
    container = _container(module)
    trimmed = trim_kernel(kernel)
    result = KernelMatch(kernel=kernel, matched_kernel=trimmed)
    for index, mapping in enumerate(container.get("kernelMappings") or []):
        try:
            hit = mapping_matches(mapping, trimmed)
        except GoRegexpError as exc:
            result.problems.append(f"mapping [{index}] regexp '{mapping.get('regexp')}': Go's regexp rejects it "
                                   f"({exc}): KMM stops at it with an error, later mappings are never tried")
            return result
        if hit:
            result.index, result.mapping = index, copy.deepcopy(mapping)
            break
    if result.index is None:
        return result
    mapping = result.mapping
    normalized = normalize_version(trimmed)
    try:
        kvars = kernel_variables(normalized)
    except KernelVersionError as exc:
        result.problems.append(f"{exc}: KMM cannot compute KERNEL_X/Y/Z, so nodes with this kernel get nothing")
        return result
    result.build = merge_build(container.get("build"), mapping.get("build"))
    if result.build is not None:
        injected = [{"name": "KERNEL_VERSION", "value": trimmed}, {"name": "KERNEL_FULL_VERSION", "value": trimmed},
                    {"name": "MOD_NAME", "value": meta.get("name", "")},
                    {"name": "MOD_NAMESPACE", "value": meta.get("namespace", "")}]
        text = (dockerfiles or {}).get((result.build.get("dockerfileConfigMap") or {}).get("name"))
        result.dockerfile_read = text is not None
        if text is not None and "DTK_AUTO" in text:
            injected.append({"name": "DTK_AUTO", "value": f"<the Driver Toolkit image for {trimmed}, from the "
                                                          "cluster's OS-to-DTK mapping>"})
        result.build_args = override_build_args(list(result.build.get("buildArgs") or []), injected)
    sign = merge_sign(container.get("sign"), mapping.get("sign"))
    if sign is not None:
        try:
            sign["unsignedImage"] = substitute(sign.get("unsignedImage") or "", kvars)
            written = list(sign.get("filesToSign") or [])
            sign["filesToSign"] = [substitute(f, kvars) for f in written]
        except SubstitutionError as exc:
            what, fix = explain(exc)
            result.problems.append(f"sign.unsignedImage or sign.filesToSign: {what}. Fix: {fix}")
            return result
        if not sign["unsignedImage"]:
            del sign["unsignedImage"]
        if result.build is not None and normalized != trimmed:
            raw_paths = [substitute(f, {**kvars, "KERNEL_FULL_VERSION": trimmed, "KERNEL_VERSION": trimmed})
                         for f in written]
            differ = [(a, b) for a, b in zip(sign["filesToSign"], raw_paths) if a != b]
            if differ:
                result.warnings.append(
                    f"the build gets the raw kernel {trimmed} as KERNEL_FULL_VERSION, so it writes "
                    f"{differ[0][1]}, but KMM signs {differ[0][0]} (sign paths use the normalized kernel "
                    f"{normalized}): the module is not signed. Fix: in the Dockerfile, install into "
                    "/opt/lib/modules/<normalized kernel>, or list the path without the kernel variable")
    result.sign = sign
    result.image_template = mapping.get("containerImage") or container.get("containerImage") or ""
    try:
        result.image = substitute(result.image_template, {**kvars, "MOD_NAME": meta.get("name", ""),
                                                          "MOD_NAMESPACE": meta.get("namespace", "")})
    except SubstitutionError as exc:
        what, fix = explain(exc)
        result.problems.append(f"containerImage {result.image_template!r}: {what}. Fix: {fix}")
        return result
    if not result.image:
        result.problems.append("neither the mapping nor the container sets containerImage")
    result.registry_tls = mapping.get("registryTLS", container.get("registryTLS"))
    modules = mapping.get("inTreeModulesToRemove")
    if modules is None:
        modules = container.get("inTreeModulesToRemove")
    single = mapping.get("inTreeModuleToRemove") or container.get("inTreeModuleToRemove")
    result.in_tree_modules_to_remove = [single] if single else list(modules or [])
    return result
