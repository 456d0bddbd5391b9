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
    """envsubst refuses the template (an unterminated ${, a newline inside ${...}), or never
    finishes it (``hangs``)."""

    def __init__(self, message: str, hangs: bool = False) -> None:
        super().__init__(message)
        self.hangs = hangs


def _name_char(c: str) -> bool:
    """a8m/envsubst's isAlphaNumeric: '_', a Unicode letter or a decimal digit."""
    return c == "_" or c.isalpha() or c.isdecimal()


# Token kinds, in a8m/envsubst's order (the parser compares them: an "operator" is >= PLUS).
ERROR, EOF, TEXT, PLUS, DASH, EQUALS, COLON_EQUALS, COLON_DASH, COLON_PLUS, VAR, OPEN, CLOSE = range(1, 13)
_OPERATORS = {"+": PLUS, "-": DASH, "=": EQUALS, ":=": COLON_EQUALS, ":-": COLON_DASH, ":+": COLON_PLUS}


def _envsubst_tokens(text: str) -> list[tuple[int, str]]:
    """a8m/envsubst's lexer (parse/lex.go) as a loop over its states: (kind, text) tokens, ending
    with EOF or ERROR."""
    tokens: list[tuple[int, str]] = []
    n, pos, start, last, depth = len(text), 0, 0, 0, 0
    state = "text"

    def emit(kind: int) -> None:
        nonlocal start, last
        tokens.append((kind, text[start:pos]))
        last, start = start, pos

    while state:
        if state == "text":
            while pos < n and text[pos] != "$":
                pos += 1
            if pos >= n:
                if pos > start:
                    emit(TEXT)
                emit(EOF)
                return tokens
            if pos > start:
                emit(TEXT)
            pos += 1
            after = text[pos] if pos < n else ""
            if after == "$":          # "$$": the first is dropped, the second is text
                start, pos = pos, pos + 1
                emit(TEXT)
            elif after == "{":
                pos += 1
                depth += 1
                emit(OPEN)
                state = "operator"
            elif after and _name_char(after):
                state = "variable"
            continue                   # anything else: the "$" stays in the pending text
        if state == "variable":
            while pos < n and _name_char(text[pos]):
                pos += 1
            if text[start:pos] in ("_", "$_"):
                state = "text"         # a lone "_" is no name; the substitution is left open
                continue
            emit(VAR)
            state = "operator" if depth > 0 else "text"
            continue
        c = text[pos] if pos < n else ""
        pos += 1 if c else 0
        if c == "}":
            depth -= 1
            emit(CLOSE)
            state = "text"
        elif not c or c in "\r\n":
            tokens.append((ERROR, "closing brace expected"))
            return tokens
        elif (_name_char(c) and text[last:].startswith("${")) or (state == "body" and c == "$"):
            state = "variable"
        elif state == "operator":
            if c in "+-=":
                emit(_OPERATORS[c])
            elif c == ":" and pos < n:
                pos += 1
                if text[pos - 2:pos] in _OPERATORS:
                    emit(_OPERATORS[text[pos - 2:pos]])
            state = "body"
        else:
            emit(TEXT)
    return tokens


def envsubst(template: str, env: dict[str, str]) -> str:
    """Substitute like a8m/envsubst (parse/parse.go) with KMM's relaxed restrictions
    (utils.ReplaceInTemplates): $NAME and ${NAME} (unset: empty), ${NAME:-x} ${NAME:=x} (empty or
    unset: x), ${NAME-x} ${NAME=x} (unset: x), ${NAME+x} ${NAME:+x} (set: x), $$ is $.
    SubstitutionError where KMM fails; with ``hangs`` where its parser never returns (a lone
    ``$_`` or ``${_`` inside ${NAME...} leaves the parser reading past the end forever)."""
    tokens = _envsubst_tokens(template or "")
    out: list[str] = []
    k = 0
    while True:
        kind, value = tokens[k]
        k += 1
        if kind == EOF:
            return "".join(out)
        if kind == ERROR:
            raise SubstitutionError(value)
        if kind == VAR:
            out.append(env.get(value[1:] if value.startswith("$") else value, ""))
        elif kind == OPEN and tokens[k][0] == VAR:
            name, operator, default = tokens[k][1], 0, None
            k += 1
            while True:
                kind, value = tokens[k]
                k += 1
                if kind == CLOSE:
                    break
                if kind == ERROR:
                    raise SubstitutionError(value)
                if kind == EOF:
                    raise SubstitutionError("the substitution never finishes: KMM's parser (a8m/envsubst) loops "
                                            "forever on a lone $_ or ${_ inside ${...}", hangs=True)
                if kind == VAR:
                    default = ("var", value[1:] if value.startswith("$") else value)
                elif kind == TEXT:
                    while tokens[k][0] not in (CLOSE, ERROR, EOF):
                        value += tokens[k][1]
                        k += 1
                    default = ("text", value)
                else:
                    operator = kind
            out.append(_substitution(name, operator, default, env))
        else:
            out.append(value)


def explain(exc: SubstitutionError) -> tuple[str, str]:
    """(what KMM does, how to fix it) for a template envsubst refuses."""
    if exc.hangs:
        return ("KMM's substitution never finishes on it (a8m/envsubst loops forever on a lone $_ or ${_ inside "
                "${...}): the reconcile hangs and nothing loads", "write each variable as ${NAME}, e.g. "
                "${KERNEL_FULL_VERSION}, with no '$_' inside it")
    return (f"KMM's substitution fails ({exc}: an unterminated ${{ or a line break inside ${{...}}) for every "
            "kernel, so nothing loads", "close the variable: ${KERNEL_FULL_VERSION}")


def substitute(template: str, values: dict[str, str]) -> str:
    """envsubst, for callers that know the template substitutes (see envsubst)."""
    return envsubst(template, values)


def _substitution(name: str, operator: int, default, env: dict[str, str]) -> str:
    """SubstitutionNode.String of a8m/envsubst."""
    value = env.get(name, "")
    if operator < PLUS or default is None:
        return value
    fallback = env.get(default[1], "") if default[0] == "var" else default[1]
    if operator in (COLON_DASH, COLON_EQUALS):
        return value or fallback
    if operator in (PLUS, COLON_PLUS):
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
