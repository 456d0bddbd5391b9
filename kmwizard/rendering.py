"""What a renderer returns, and the YAML every file is written in.

``OutputFile`` and ``Rendering`` pass between the layers: the methods (``kvc/``, ``kmm/``) make
them, ``render`` returns them, ``output`` writes them and the front ends show them.  They live
here, at the bottom, so a method never imports the dispatcher (``kmwizard.render``) that calls it.
"""
from __future__ import annotations

import functools
import re
from typing import Any, Optional

from kmwizard.findings import Finding, has_errors
from kmwizard.records import field, record
from kmwizard.regexps import lazy

SECRET_MASK = "<redacted: {what} present, {size} bytes; written to the file with mode 0600, never shown>"


@record(frozen=True)
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


@record(frozen=True)
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
    import yaml  # loaded with the first YAML written: the wizard's first screen shows none (bench_startup)

    return yaml.dump(obj, Dumper=_block_dumper(), sort_keys=sort_keys, allow_unicode=True, width=4096)


@functools.cache
def _block_dumper() -> type:
    import yaml

    class BlockDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
        """libyaml's emitter when present: byte-identical output, 30x faster on large configs."""

    BlockDumper.add_representer(str, _str_representer)
    return BlockDumper


# Plain scalars a YAML 1.2 reader (Go's yaml.v3, ruamel) takes as numbers or booleans although PyYAML,
# a YAML 1.1 writer, does not quote them: 1e3, 0o17, +12, .5, y/n.  Written in quotes they stay strings.
_YAML12_NON_STRING = lazy(r"""^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?|0o[0-7]+|0x[0-9a-fA-F]+
    |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|[yYnN]|~|null|Null|NULL)$""", re.X)


def _str_representer(dumper, value: str):
    from yaml import ScalarNode

    if value and value[:1] in "0123456789.+-yYnN~" and _YAML12_NON_STRING.match(value) \
            and dumper.resolve(ScalarNode, value, (True, False)) == "tag:yaml.org,2002:str":
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")  # as PyYAML quotes 4.14
    if "\n" in value and not any(c in value for c in "\r\t") and not value.startswith((" ", "\n")) \
            and all(not line.endswith(" ") for line in value.split("\n")):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


def manifest_file(path: str, obj: dict, *, title: str = "", secret: bool = False,
                  preview_obj: Optional[dict] = None) -> OutputFile:
    """An OutputFile holding one Kubernetes object as YAML.  For a secret, preview_obj is
    the masked copy shown instead."""
    preview = dump_yaml(preview_obj) if preview_obj is not None else None
    return OutputFile(path=path, content=dump_yaml(obj).encode(), mode=0o600 if secret else 0o644,
                      secret=secret, manifest=obj, title=title or obj.get("kind", path), preview=preview)
