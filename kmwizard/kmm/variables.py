"""KMM's variable substitution and image references, as the operator does them.

KMM expands ``containerImage`` (and, with kernel variables only, ``sign.unsignedImage`` and
``sign.filesToSign``) with a8m/envsubst: ``$NAME`` and ``${NAME}``; unknown names become
empty without any error, and ``$MOD_NAME_v2`` reads the variable ``MOD_NAME_v2``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

KERNEL_VARIABLES = ("KERNEL_FULL_VERSION", "KERNEL_VERSION", "KERNEL_XYZ", "KERNEL_X", "KERNEL_Y", "KERNEL_Z")
MODULE_VARIABLES = ("MOD_NAME", "MOD_NAMESPACE")
IMAGE_VARIABLES = KERNEL_VARIABLES + MODULE_VARIABLES

# $$ (an escaped dollar), ${NAME...} with an optional envsubst operator, or $NAME.
_REFERENCE = re.compile(r"\$\$|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>[^}]*)\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)")
_UNSAFE_TAG_CHARS = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
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


class SubstitutionError(ValueError):
    """envsubst refuses the template (an unterminated ${, a newline inside ${...})."""


def _name_char(c: str) -> bool:
    return c == "_" or c.isalpha() or c.isdecimal()


def _envsubst_tokens(text: str) -> list[tuple[str, str]]:
    """a8m/envsubst's lexer, in our words: ("text", s), ("var", name), ("open", "${"), ("close", "}"),
    ("op", one of + - = :- := :+), ("error", message).  Stops after an error."""
    tokens: list[tuple[str, str]] = []
    i, n, depth = 0, len(text), 0
    start = 0

    def flush(upto: int) -> None:
        if upto > start:
            tokens.append(("text", text[start:upto]))

    while i < n:
        if depth == 0:
            if text[i] != "$":
                i += 1
                continue
            flush(i)
            start = i
            nxt = text[i + 1] if i + 1 < n else ""
            if nxt == "$":  # "$$" is one literal "$"
                tokens.append(("text", "$"))
                i = start = i + 2
            elif nxt == "{":
                tokens.append(("open", "${"))
                depth, i = 1, i + 2
                start = i
                state = "operator"
                # inside the braces: a name, an operator, then text or variables up to "}"
                while True:
                    if i >= n or text[i] in "\r\n":
                        tokens.append(("error", "closing brace expected"))
                        return tokens
                    c = text[i]
                    if state == "operator":
                        if c == "}":
                            tokens.append(("close", "}"))
                            i += 1
                            break
                        if _name_char(c) and tokens[-1][0] == "open":
                            j = i
                            while j < n and _name_char(text[j]):
                                j += 1
                            if text[i:j] == "_":  # a lone "_" is no name: the rest is plain text
                                start, depth = i - 2, 0
                                tokens.pop()
                                i = j
                                break
                            tokens.append(("var", text[i:j]))
                            i = start = j
                            continue
                        two = text[i:i + 2]
                        if two in (":-", ":=", ":+"):
                            tokens.append(("op", two))
                            i = start = i + 2
                        elif c in "+-=":
                            tokens.append(("op", c))
                            i = start = i + 1
                        else:  # no operator: a ":" and what follows stay pending text
                            i += 2 if c == ":" else 1
                        state = "body"
                        continue
                    if c == "}":
                        tokens.append(("close", "}"))
                        i += 1
                        break
                    if c == "$" or (_name_char(c) and tokens[-1][0] == "open"):
                        j = i + 1
                        while j < n and _name_char(text[j]):
                            j += 1
                        name = text[start:j]
                        tokens.append(("var", name[1:] if name.startswith("$") else name, name))
                        i = start = j
                        state = "operator"
                        continue
                    tokens.append(("text", text[start:i + 1]))
                    i = start = i + 1
                if depth:
                    depth = 0
                    start = i
            elif nxt and _name_char(nxt):
                j = i + 1
                while j < n and _name_char(text[j]):
                    j += 1
                if text[i:j] == "$_":
                    i = j  # "$_" alone is plain text
                    continue
                tokens.append(("var", text[i + 1:j]))
                i = start = j
            else:
                i += 1
    flush(n)
    return tokens


def envsubst(template: str, env: dict[str, str]) -> str:
    """Substitute like a8m/envsubst with KMM's relaxed restrictions (utils.ReplaceInTemplates):
    $NAME and ${NAME} (unset: empty), ${NAME:-x} ${NAME:=x} (empty or unset: x), ${NAME-x} ${NAME=x}
    (unset: x), ${NAME+x} ${NAME:+x} (set: x), $$ is $.  SubstitutionError where KMM fails."""
    tokens = _envsubst_tokens(template or "")
    out: list[str] = []
    k = 0
    while k < len(tokens):
        kind, value = tokens[k][:2]
        k += 1
        if kind == "error":
            raise SubstitutionError(value)
        if kind == "var":
            out.append(env.get(value, ""))
        elif kind == "open" and k < len(tokens) and tokens[k][0] == "var":
            name, op, default = tokens[k][1], "", None
            k += 1
            while k < len(tokens) and tokens[k][0] != "close":
                kind, value = tokens[k][:2]
                k += 1
                if kind == "error":
                    raise SubstitutionError(value)
                if kind == "op":
                    op = value
                elif kind == "var":
                    default = ("var", value)
                elif kind == "text":
                    text = value
                    while k < len(tokens) and tokens[k][0] not in ("close", "error"):
                        text += tokens[k][-1]  # as written: "$B" stays "$B" after text
                        k += 1
                    default = ("text", text)
            k += 1  # the closing brace
            out.append(_substitution(name, op, default, env))
        else:
            out.append(value)
    return "".join(out)


def substitute(template: str, values: dict[str, str]) -> str:
    """envsubst, for callers that know the template substitutes (see envsubst)."""
    return envsubst(template, values)


def _substitution(name: str, op: str, default, env: dict[str, str]) -> str:
    value = env.get(name, "")
    if not op or default is None:
        return value
    fallback = env.get(default[1], "") if default[0] == "var" else default[1]
    if op in (":-", ":="):
        return value or fallback
    if op in ("+", ":+"):
        return fallback if name in env else ""
    return value if name in env else fallback


# --- image references ---------------------------------------------------------------

_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")
_REPO_PATH_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")


@dataclass(frozen=True)
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
