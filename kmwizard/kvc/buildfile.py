"""The node's build must run on the RHEL major of the node: RHCOS is RHEL 8 up to OpenShift 4.12 and
RHEL 9 from 4.13, and ``kernel-devel-$KVER`` of an el9 kernel only installs in a RHEL 9 image.

Upstream kvc-simple-kmod's ``Dockerfile.rhel`` is ``FROM registry.access.redhat.com/ubi8``; on a
4.13+ node its build fails and the module never loads.  kmwizard reads the base images of the
build file the instance conf names and, when a UBI/RHEL image of the other major is used with a
floating tag, delivers a copy with the right major (as the yum-repo variant delivers one) at
``/etc/kvc/<name>-build/Dockerfile``; anything it cannot convert is refused with a fix.
"""
from __future__ import annotations

from kmwizard.records import field, record
from pathlib import Path
from typing import Optional

from kmwizard.findings import Finding, error, info
from kmwizard.kvc import instance, releases
from kmwizard.regexps import lazy
from kmwizard.textfiles import DOCKERFILE_MAX, InputFileError, is_regular, read_regular_file

_UBI = lazy(r"(?<![a-z0-9])(ubi|rhel)([89])(?=$|[/:@-])")
_CENTOS = lazy(r"centos[^/]*[:/]stream([89])\b|centos:([89])\b")
_FLOATING_TAGS = ("", "latest")


@record(frozen=True)
class BaseImage:
    line: int       # 0-based index of the physical line holding the image name
    image: str      # as written (may hold ${ARG})
    resolved: str   # with the ARG defaults declared before it substituted


_ARG_REF = lazy(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


def base_images(text: str) -> list[BaseImage]:
    """The images of the FROM instructions, continuation lines followed (stage references such as
    ``FROM builder`` left out)."""
    lines = text.split("\n")
    found, stages, args = [], set(), {}
    index = 0
    while index < len(lines):
        first = index
        while lines[index].rstrip().endswith("\\") and index + 1 < len(lines):
            index += 1
        words = " ".join(line.rstrip().rstrip("\\") for line in lines[first:index + 1]).split()
        index += 1
        if not words:
            continue
        keyword = words[0].upper()
        if keyword == "ARG" and len(words) > 1 and "=" in words[1]:
            name, _, value = words[1].partition("=")
            args[name] = value.strip("\"'")
        if keyword != "FROM":
            continue
        rest = [w for w in words[1:] if not w.startswith("--")]
        if not rest:
            continue
        if len(rest) >= 3 and rest[1].upper() == "AS":
            stages.add(rest[2].lower())
        image = rest[0]
        if image.lower() in stages:
            continue
        line = next((i for i in range(first, index) if image in lines[i]), first)
        resolved = _ARG_REF.sub(lambda m: args.get(m.group(1), m.group(0)), image)
        found.append(BaseImage(line, image, resolved))
    return found


def rhel_major_of(image: str) -> Optional[int]:
    """8 or 9 for UBI, RHEL and CentOS Stream images, None when the name does not tell."""
    name = image.lower()
    match = _UBI.search(name.rsplit("@", 1)[0])
    if match:
        return int(match.group(2))
    match = _CENTOS.search(name)
    return int(match.group(1) or match.group(2)) if match else None


def _tag(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return "@" + last.split("@", 1)[1]
    return last.split(":", 1)[1] if ":" in last else ""


def retarget_image(image: str, major: int) -> Optional[str]:
    """The same UBI/RHEL image for RHEL ``major``, or None when it cannot be named safely
    (a pinned tag or digest names one release of one major)."""
    if _tag(image) not in _FLOATING_TAGS or not _UBI.search(image.lower()):
        return None
    return _UBI.sub(lambda m: f"{m.group(1)}{major}", image)


@record
class BuildFit:
    """What render adds so that the build fits the node's RHEL."""
    files: dict = field(default_factory=dict)           # node path -> (bytes, mode)
    conf_overrides: dict = field(default_factory=dict)  # instance conf KEY -> value
    findings: list = field(default_factory=list)


def fit_text(text: str, major: int, *, label: str, where: str) -> tuple[Optional[str], list[Finding]]:
    """(text converted to RHEL ``major`` or None if nothing changes, findings); an image of the other
    major that cannot be converted is an error."""
    findings: list[Finding] = []
    lines = text.split("\n")
    changed = False
    for base in base_images(text):
        have = rhel_major_of(base.resolved)
        if have is None and "fedora" in base.resolved.lower():
            findings.append(error(where, f"{label}: base image {base.image!r} is Fedora: it cannot install kernel-devel "
                                  f"for the nodes' RHEL {major} kernel (upstream's Dockerfile.fedora does not build "
                                  "on RHCOS)", f"set kvc.build_file to a Dockerfile FROM a RHEL {major} image, e.g. "
                                  "Dockerfile.rhel", code="kvc-build-rhel"))
            continue
        if have is None:
            findings.append(info(where, f"{label}: base image {base.resolved!r} does not name its RHEL release; the "
                                 f"build on the node needs RHEL {major} packages (kernel-devel of an "
                                 f"el{major} kernel)", f"use a RHEL {major} base such as "
                                 f"registry.access.redhat.com/ubi{major}/ubi", code="kvc-build-rhel-unknown"))
            continue
        if have == major:
            continue
        new = retarget_image(base.image, major) if base.image == base.resolved else None
        if new is None:
            findings.append(error(where, f"{label}: base image {base.resolved!r} is RHEL {have}, but the nodes run RHEL "
                                  f"{major}: the build cannot install kernel-devel for their el{major} kernel and "
                                  "the module never loads", f"set kvc.build_file to a Dockerfile FROM a RHEL {major} "
                                  f"image (e.g. registry.access.redhat.com/ubi{major}/ubi); kmwizard converts only a "
                                  "UBI/RHEL image named in the FROM line with a floating tag", code="kvc-build-rhel"))
            continue
        lines[base.line] = lines[base.line].replace(base.image, new, 1)
        changed = True
        findings.append(info(where, f"{label}: base image {base.image!r} is RHEL {have} but the nodes run RHEL "
                             f"{major}; the delivered build file uses {new!r}", code="kvc-build-rhel-fixed"))
    return ("\n".join(lines) if changed else None), findings


def fit_build(*, root: Path, module_name: str, module_dir: Optional[Path], module_repo: str, build_file: str,
              openshift_version: str, delivered: dict, build_target: str) -> BuildFit:
    """Check (and fix) the base image of the build for the RHEL of ``openshift_version``.

    ``delivered`` holds files render already adds (the yum-repo variant's derived Dockerfile at
    ``build_target``); a converted file replaces it or is added there.
    """
    minor = releases.minor_of(openshift_version)
    major = releases.rhel_major(minor)
    fit = BuildFit()
    fit.findings.append(info("openshift_version", f"OpenShift {openshift_version} nodes run RHCOS built on RHEL "
                             f"{major} (el{major} kernels): the module is built there against RHEL {major} "
                             "kernel-devel", code="kvc-rhel"))
    text, label, is_target = _build_file_text(root, module_name, module_dir, module_repo, build_file,
                                              delivered, build_target)
    if text is None:
        fit.findings.append(info("kvc.build_file", f"{label}: kmwizard cannot read it, so it cannot check that "
                                    f"its base image is RHEL {major}", "make sure the build file is FROM a RHEL "
                                    f"{major} image (e.g. registry.access.redhat.com/ubi{major}/ubi)",
                                    code="kvc-build-rhel-unchecked"))
        return fit
    fixed, findings = fit_text(text, major, label=label, where="kvc.build_file")
    fit.findings.extend(findings)
    if fixed is not None:
        fit.files[build_target] = (fixed.encode("utf-8"), 0o644)
        if not is_target:
            fit.conf_overrides["KMOD_CONTAINER_BUILD_FILE"] = build_target
    return fit


def _build_file_text(root, module_name, module_dir, module_repo, build_file, delivered, build_target):
    """(text, label, already the delivered target) of the build file the node will use."""
    if build_target in delivered:
        return delivered[build_target][0].decode("utf-8", "replace"), build_target, True
    conf_file = Path(root) / instance.conf_path(module_name).lstrip("/")
    conf = instance.parse_conf(_read(conf_file) or "") if is_regular(conf_file) else {}
    name = build_file or (conf["KMOD_CONTAINER_BUILD_FILE"].value if "KMOD_CONTAINER_BUILD_FILE" in conf else "")
    context = conf.get("KMOD_CONTAINER_BUILD_CONTEXT")
    if not name:
        return None, "the build file (KMOD_CONTAINER_BUILD_FILE is not set)", False
    candidates = []
    if name.startswith("/"):
        candidates.append((Path(root) / name.lstrip("/"), name))
    elif context is not None and context.literal and context.value.startswith("/"):
        candidates.append((Path(root) / context.value.lstrip("/") / name, f"{context.value.rstrip('/')}/{name}"))
    elif module_dir is not None:
        candidates.append((Path(module_dir) / name, f"{name} of kvc.module_repo"))
    for path, label in candidates:
        if is_regular(path):  # not a link into /proc, a FIFO or a device of the user's tree
            text = _read(path)
            return (text, label, False) if text is not None else (None, f"{label} (unreadable or over 1 MiB)", False)
    return None, f"the build file {name!r}", False


def _read(path: Path) -> Optional[str]:
    try:
        return read_regular_file(path, what="build file", limit=DOCKERFILE_MAX).decode("utf-8", "replace")
    except InputFileError:
        return None
