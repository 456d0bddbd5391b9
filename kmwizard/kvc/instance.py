"""Make the instance conf (/etc/kvc/<name>.conf) work on RHCOS, and say what changed.

The conf is a bash file the instance library sources (``KEY=value`` lines).  The
framework builds with ``podman build --file $KMOD_CONTAINER_BUILD_FILE ...
$KMOD_CONTAINER_BUILD_CONTEXT`` and checks each built .ko against
``KMOD_SOFTWARE_VERSION``.  Upstream's defaults fail on RHCOS: ``Dockerfile.fedora``
(the docs forget to switch to ``Dockerfile.rhel``) and ``git://`` URLs (GitHub turned the
git protocol off).  Every change is returned as a finding, so nothing changes silently.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Mapping, Optional

from kmwizard.findings import Finding, error, info, warning
from kmwizard.records import record
from kmwizard.regexps import lazy
from kmwizard.textfiles import ANSWERS_MAX, InputFileError, read_regular_file

REQUIRED = ("KMOD_CONTAINER_BUILD_CONTEXT", "KMOD_CONTAINER_BUILD_FILE", "KMOD_SOFTWARE_VERSION", "KMOD_NAMES")

_ASSIGN = lazy(r"^(?P<lead>\s*(?:export\s+)?)(?P<key>[A-Za-z_][A-Za-z0-9_]*)=(?P<rest>.*)$")
_BARE_SAFE = lazy(r"^[A-Za-z0-9_./:@%+,=-]+$")
_KMOD_NAME = lazy(r"^[A-Za-z0-9_-]+$")


@record(frozen=True)
class Assignment:
    key: str
    value: str      # the value bash would assign, when `literal`
    literal: bool   # False: it expands $(...), ${...} or `...`, so kmwizard cannot know the value
    line: int       # index into the conf's lines
    lead: str       # leading blanks and "export "
    tail: str       # what follows the value on the line (a comment)


def conf_path(module_name: str) -> str:
    return f"/etc/kvc/{module_name}.conf"


def parse_conf(text: str) -> dict[str, Assignment]:
    """The last assignment of each key (bash's rule), for plain `KEY=value` lines."""
    found: dict[str, Assignment] = {}
    for index, line in enumerate(text.split("\n")):
        match = _ASSIGN.match(line)
        if not match:
            continue
        value, literal, tail = _parse_value(match.group("rest"))
        found[match.group("key")] = Assignment(match.group("key"), value, literal, index, match.group("lead"), tail)
    return found


def _parse_value(rest: str) -> tuple[str, bool, str]:
    """(value, literal, tail) for the text after '=' (bash word rules, without expansions)."""
    value, literal, i = [], True, 0
    while i < len(rest) and not rest[i].isspace() and rest[i] != ";":
        char = rest[i]
        if char == "'":
            end = rest.find("'", i + 1)
            if end < 0:
                return rest, False, ""
            value.append(rest[i + 1:end])
            i = end + 1
        elif char == '"':
            i += 1
            while i < len(rest) and rest[i] != '"':
                if rest[i] == "\\" and i + 1 < len(rest) and rest[i + 1] in '"\\$`':
                    value.append(rest[i + 1])
                    i += 2
                    continue
                if rest[i] in "$`":
                    literal = False
                value.append(rest[i])
                i += 1
            if i >= len(rest):
                return rest, False, ""
            i += 1
        elif char == "\\" and i + 1 < len(rest):
            value.append(rest[i + 1])
            i += 2
        elif (char == "$" and rest[i + 1:i + 2] in ("(", "{")) or char == "`":
            end = _expansion_end(rest, i)  # $(...), ${...}, `...`: spaces inside do not end the word
            value.append(rest[i:end])
            literal, i = False, end
        else:
            if char in "$`(":
                literal = False
            value.append(char)
            i += 1
    return "".join(value), literal, rest[i:]


def _expansion_end(text: str, start: int) -> int:
    """Index after the expansion starting at text[start] ($(, ${ or a backquote), nesting and
    quotes inside followed; the end of the text when it is not closed."""
    if text[start] == "`":
        end = text.find("`", start + 1)
        return len(text) if end < 0 else end + 1
    opener = text[start + 1]
    closer = ")" if opener == "(" else "}"
    depth, i, quote = 0, start + 1, ""
    while i < len(text):
        char = text[i]
        if quote:
            if char == quote:
                quote = ""
            elif char == "\\" and quote == '"':
                i += 1
        elif char in "'\"":
            quote = char
        elif char == "\\":
            i += 1
        elif char == opener:
            depth += 1
        elif char == closer:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(text)


def quote_value(value: str, *, double: bool = False) -> str:
    """The value as bash source: bare when that is safe (unless double quotes are preferred)."""
    if _BARE_SAFE.match(value) and not double:
        return value
    if not any(c in value for c in '"$`\\!\n'):
        return f'"{value}"'
    return shlex.quote(value)


def set_value(text: str, key: str, value: str) -> str:
    """text with the (last) assignment of key set to value; appended when missing."""
    lines = text.split("\n")
    current = parse_conf(text).get(key)
    if current is None:
        if lines and lines[-1] == "":
            lines.insert(len(lines) - 1, f"{key}={quote_value(value)}")
        else:
            lines.append(f"{key}={quote_value(value)}")
    else:
        was_double = _ASSIGN.match(lines[current.line]).group("rest").startswith('"')
        lines[current.line] = f"{current.lead}{key}={quote_value(value, double=was_double)}{current.tail}"
    return "\n".join(lines)


def instance_fixes(fakeroot: Path, module_name: str, *, build_file: Optional[str] = "Dockerfile.rhel",
                   software_version: Optional[str] = None, overrides: Optional[Mapping[str, str]] = None,
                   overrides_where: str = "entitlement.source",
                   overrides_why: str = "", tree_given: bool = False) -> tuple[dict[str, bytes], list[Finding]]:
    """Replacement contents for the instance conf (keyed by node path; empty when nothing
    changes) and the findings: one per change, errors for what cannot work.

    ``overrides`` (e.g. the entitlement payload's ``conf_overrides``) win over ``build_file``.
    """
    node_path = conf_path(module_name)
    # The conf comes from the module repository (fix it there), or from a tree the user made (kvc.fakeroot).
    where = "kvc.fakeroot" if tree_given else "kvc.module_repo"
    origin = f"the fakeroot {fakeroot}" if tree_given else "the module repository"
    path = Path(fakeroot) / node_path.lstrip("/")
    findings: list[Finding] = []
    if not path.is_file():
        others = sorted(p.name for p in (Path(fakeroot) / "etc/kvc").glob("*.conf")
                        if p.name != "kmods-via-containers.conf")
        missing = (f"add etc/kvc/{module_name}.conf to the fakeroot {fakeroot}" if tree_given else
                   "the module repository's `make install` must install <name>.conf into $(CONFDIR)/kvc/")
        hint = (f"{origin} holds {', '.join('/etc/kvc/' + o for o in others)}: set kvc.module_name "
                f"to {others[0][:-5]!r}" if others else missing)
        return {}, [error("kvc.module_name", f"{node_path} is missing from the tree, so "
                          f"kmods-via-containers@{module_name}.service has no configuration", hint,
                          code="kvc-conf-missing")]
    try:  # a regular file of sane size: a link to /proc or a device is not a conf
        raw = read_regular_file(path, what="instance conf", limit=ANSWERS_MAX)
    except InputFileError as exc:
        return {}, [error(where, f"{node_path}: {exc.reason}", "fix the conf in the module repository",
                          code="kvc-conf-read")]
    try:
        original = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return {}, [error(where, f"{node_path} is not UTF-8 text (byte {exc.start})",
                          f"fix the conf in {origin}", code="kvc-conf-encoding")]

    wanted: dict[str, tuple[str, str, str]] = {}  # key -> (value, where, why)
    if build_file:
        wanted["KMOD_CONTAINER_BUILD_FILE"] = (build_file, "kvc.build_file",
                                               "the build file for RHCOS (upstream's Dockerfile.fedora does not "
                                               "build on RHCOS)")
    if software_version:
        wanted["KMOD_SOFTWARE_VERSION"] = (software_version, "kvc.software_version",
                                           "set by kvc.software_version; it must equal `modinfo -F version` of "
                                           "each built .ko or the unit rebuilds on every start and fails")
    for key, value in (overrides or {}).items():
        wanted[key] = (value, overrides_where, overrides_why or f"needed by {overrides_where}")

    text = original
    for key, (value, key_where, why) in wanted.items():
        current = parse_conf(text).get(key)
        if current is not None and current.literal and current.value == value:
            continue
        old = "(not set)" if current is None else repr(current.value)
        text = set_value(text, key, value)
        findings.append(info(key_where, f"{node_path}: {key} changed from {old} to {value!r}: {why}",
                             code="kvc-conf-changed"))

    context = parse_conf(text).get("KMOD_CONTAINER_BUILD_CONTEXT")
    if context is not None and context.literal and context.value.startswith("git://github.com/"):
        new = "https://" + context.value[len("git://"):]
        text = set_value(text, "KMOD_CONTAINER_BUILD_CONTEXT", new)
        findings.append(info(where, f"{node_path}: KMOD_CONTAINER_BUILD_CONTEXT changed from "
                                    f"{context.value!r} to {new!r}: the git:// protocol no longer works "
                                    "(GitHub turned it off in 2022)", code="kvc-conf-changed"))

    findings.extend(check_conf(parse_conf(text), node_path, where, FakerootTree(Path(fakeroot)), origin))
    changed = {node_path: text.encode("utf-8")} if text != original else {}
    return changed, findings


class FakerootTree:
    """Node paths answered from a fakeroot directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def is_dir(self, node_path: str) -> bool:
        return (self.root / node_path.lstrip("/")).is_dir()

    def is_file(self, node_path: str) -> bool:
        return (self.root / node_path.lstrip("/")).is_file()


class DeliveredTree:
    """Node paths answered from the files a MachineConfig delivers (directories are implied)."""

    def __init__(self, paths) -> None:
        self.files = set(paths)

    def is_dir(self, node_path: str) -> bool:
        prefix = node_path.rstrip("/") + "/"
        return any(p.startswith(prefix) for p in self.files)

    def is_file(self, node_path: str) -> bool:
        return node_path in self.files


def check_conf(conf: dict[str, Assignment], node_path: str, where: str, tree,
               origin: str = "the module repository") -> list[Finding]:
    """The instance conf's rules: required keys, module names, the build context (podman's rules)
    and the build file.  ``tree`` answers is_dir/is_file for node paths (FakerootTree,
    DeliveredTree)."""
    findings = []
    for key in REQUIRED:
        item = conf.get(key)
        if item is None:
            findings.append(error(where, f"{node_path} does not set {key}, which the instance library needs",
                                  f"add {key}=... to the conf in {origin}", code="kvc-conf-key"))
        elif not item.literal:
            findings.append(warning(where, f"{node_path}: {key} is computed by the shell "
                                           f"({item.value!r}), so kmwizard cannot check it",
                                    "write a plain value if you can", code="kvc-conf-dynamic"))
        elif not item.value.strip():
            findings.append(error(where, f"{node_path}: {key} is empty", f"give {key} a value in the conf",
                                  code="kvc-conf-empty"))
    names = conf.get("KMOD_NAMES")
    if names is not None and names.literal:
        bad = [n for n in names.value.split() if not _KMOD_NAME.match(n)]
        if bad:
            findings.append(error(where, f"{node_path}: KMOD_NAMES has {bad!r}, which are not kernel module "
                                         "names (letters, digits, '-' and '_', separated by spaces)",
                                  "list the module names as `modprobe` takes them", code="kvc-conf-names"))
    context = conf.get("KMOD_CONTAINER_BUILD_CONTEXT")
    if context is not None and context.literal and context.value:
        findings.extend(_check_context(context.value, conf.get("KMOD_CONTAINER_BUILD_FILE"), node_path, where,
                                       tree))
    build_file = conf.get("KMOD_CONTAINER_BUILD_FILE")
    if build_file is not None and build_file.literal and build_file.value.split("/")[-1] == "Dockerfile.fedora":
        findings.append(error(where, f"{node_path}: KMOD_CONTAINER_BUILD_FILE {build_file.value!r} builds on Fedora, "
                                     "which cannot install kernel-devel for the RHCOS kernel",
                              "use the RHEL build file (Dockerfile.rhel in kvc-simple-kmod)", code="kvc-conf-build-file"))
    elif build_file is not None and build_file.literal and build_file.value.startswith("/") and \
            not tree.is_file(build_file.value):
        findings.append(warning(where, f"{node_path}: KMOD_CONTAINER_BUILD_FILE {build_file.value!r} is not delivered "
                                       "by this config; the build fails unless every node already has it",
                                "deliver the file too, or name one in the build context", code="kvc-conf-build-file"))
    return findings


def _check_context(value: str, build_file: Optional[Assignment], node_path: str, where: str,
                   tree) -> list[Finding]:
    """What podman on the node does with the build context (buildah's rules)."""
    label = f"{node_path}: KMOD_CONTAINER_BUILD_CONTEXT {value!r}"
    if value.startswith(("ssh://", "git@")) or re.match(r"^[\w.-]+@[\w.-]+:", value):
        return [error(where, f"{label} needs SSH credentials, which the nodes do not have",
                      "use an https:// URL of the repository", code="kvc-conf-context")]
    if value.startswith("git://"):
        return [warning(where, f"{label} uses the unencrypted git:// protocol, which many hosts no longer serve",
                        "use the repository's https:// URL if its host serves one", code="kvc-conf-context")]
    if value.startswith("github.com/"):
        return [warning(where, f"{label} makes podman download the master branch of that repository as a tar "
                               "archive", "give the https:// URL ending in .git (any branch: append #<branch>)",
                        code="kvc-conf-context")]
    if value.startswith(("http://", "https://")):
        found = []
        if value.startswith("http://"):
            found.append(warning(where, f"{label} is fetched without TLS", "use https://",
                                 code="kvc-conf-context"))
        # podman clones a URL only when it ends in .git (before any #ref); any other URL is
        # downloaded as a tar archive.
        if not value.split("#", 1)[0].endswith(".git"):
            found.append(warning(where, f"{label} does not end in .git, so podman downloads it as a tar "
                                        "archive instead of cloning it",
                                 "append .git to a git repository's URL", code="kvc-conf-context"))
        return found
    if value.startswith("/"):
        if not tree.is_dir(value):
            return [warning(where, f"{label} is a directory that this config does not deliver; the build "
                                   "fails unless every node already has it",
                            "use a git URL, or deliver the directory in the tree", code="kvc-conf-context")]
        if build_file is not None and build_file.literal and build_file.value and \
                not build_file.value.startswith("/") and not tree.is_file(f"{value.rstrip('/')}/{build_file.value}"):
            return [error(where, f"{node_path}: KMOD_CONTAINER_BUILD_FILE {build_file.value!r} is not in the "
                                 f"build context {value}", "deliver it there or fix the name",
                          code="kvc-conf-build-file")]
        return []
    return [error(where, f"{label} is neither a URL nor an absolute directory; podman would resolve it "
                         "against the unit's working directory /", "give an https:// git URL ending in .git",
                  code="kvc-conf-context")]
