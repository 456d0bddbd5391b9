"""Answers in, files out: the one function every front end calls.

``render(answers)`` returns a ``Rendering``: the files ``generate`` writes (each with
its mode and whether it holds secrets), the Kubernetes objects among them in apply
order, and the findings.  The preview, ``generate``, ``apply`` and the TUI all use
it, so what the user sees is what gets written and applied.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from kmwizard.findings import Finding, KmwizardError, error, has_errors, sorted_findings

SECRET_MASK = "<redacted: {what} present, {size} bytes; written to the file with mode 0600, never shown>"


@dataclass(frozen=True)
class OutputFile:
    path: str                      # relative to the output directory, "/" separated
    content: bytes
    mode: int = 0o644
    secret: bool = False           # holds key material: 0600 on disk, masked in previews
    manifest: Optional[dict] = field(default=None, compare=False)  # the object, when this is a manifest
    title: str = ""                # short label for a preview tab
    preview: Optional[str] = field(default=None, compare=False)  # masked text to show instead of content
    write: bool = True             # False: shown in previews only (e.g. not for openshift-install's folder)

    def preview_text(self) -> str:
        """What a preview may show: secrets masked, binary summarised."""
        if self.preview is not None:
            return self.preview
        if self.secret:
            return SECRET_MASK.format(what="secret material", size=len(self.content))
        try:
            return self.content.decode("utf-8")
        except UnicodeDecodeError:
            return f"<binary file, {len(self.content)} bytes>"


@dataclass(frozen=True)
class Rendering:
    files: tuple[OutputFile, ...] = ()
    findings: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = ()     # what the user must know about the output (who can read it, ...)
    install_subdir: str = ""        # day 1: files go into <install dir>/<install_subdir>

    @property
    def manifests(self) -> list[dict]:
        """Kubernetes objects in the order they are created (namespaces first)."""
        return [f.manifest for f in self.files if f.manifest is not None]

    @property
    def written_files(self) -> list[OutputFile]:
        return [f for f in self.files if f.write]

    @property
    def ok(self) -> bool:
        return not has_errors(self.findings)


def dump_yaml(obj: Any, *, sort_keys: bool = False) -> str:
    """YAML as users read it: key order kept, long strings not folded, multi-line strings as blocks."""
    return yaml.dump(obj, Dumper=_BlockDumper, sort_keys=sort_keys, allow_unicode=True, width=4096)


class _BlockDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
    """libyaml's emitter when present: byte-identical output, 30x faster on large configs."""


def _str_representer(dumper: yaml.SafeDumper, value: str):
    if "\n" in value and not any(c in value for c in "\r\t") and not value.startswith((" ", "\n")) \
            and all(not line.endswith(" ") for line in value.split("\n")):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_BlockDumper.add_representer(str, _str_representer)


def manifest_file(path: str, obj: dict, *, title: str = "", secret: bool = False,
                  preview_obj: Optional[dict] = None) -> OutputFile:
    """An OutputFile holding one Kubernetes object as YAML.  For a secret, preview_obj is
    the masked copy shown instead."""
    preview = dump_yaml(preview_obj) if preview_obj is not None else None
    return OutputFile(path=path, content=dump_yaml(obj).encode(), mode=0o600 if secret else 0o644,
                      secret=secret, manifest=obj, title=title or obj.get("kind", path), preview=preview)


def render(answers) -> Rendering:
    """Render the answers with the renderer of their method; answer problems come first."""
    problems = answers.check()
    if has_errors(problems):
        return Rendering(findings=tuple(sorted_findings(problems)))
    method = answers.get("method")
    try:
        if method == "kvc":
            from kmwizard.kvc.render import render_kvc as renderer
        else:
            from kmwizard.kmm.render import render_kmm as renderer
        result = renderer(answers)
    except KmwizardError as exc:
        return Rendering(findings=tuple(sorted_findings([*problems, error(
            getattr(exc, "where", "") or method, exc.message, exc.fix, code="render-failed")])))
    from kmwizard.locate import locate  # findings on rendered files name the answer to change

    return Rendering(files=result.files, notes=result.notes, install_subdir=result.install_subdir,
                     findings=tuple(sorted_findings([*problems, *locate(result.findings, result.files, answers)])))


# The answers that name local files or trees a render reads (besides the answers themselves).
INPUT_PATH_KEYS = ("kvc.fakeroot", "kvc.framework_repo", "kvc.module_repo", "entitlement.certs_dir",
                   "kmm.dockerfile", "kmm.sign.key_file", "kmm.sign.cert_file")


def input_state(answers) -> tuple:
    """The state of the local files and trees these answers name: a render of the same answers
    over the same state gives the same result, so a front end's render cache keys on both
    (a file added to a fakeroot must show, without a restart). Cheap: stat() calls only."""
    from kmwizard.keys import KEYS
    from kmwizard.kvc.fetch import URL_PATTERN, tree_fingerprint

    method = answers.get("method")
    state = []
    for key in INPUT_PATH_KEYS:
        value = answers.get(key)
        if not value or not isinstance(value, str) or method not in KEYS[key].methods or URL_PATTERN.match(value):
            continue
        path = Path(os.path.expanduser(value))
        try:
            if path.is_dir():
                git_head = path / ".git" / "HEAD"
                head = git_head.stat().st_mtime_ns if git_head.exists() else None
                state.append((key, tree_fingerprint(path), head))
            else:
                st = path.stat()
                state.append((key, st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError:
            state.append((key, None))
    return tuple(state)
