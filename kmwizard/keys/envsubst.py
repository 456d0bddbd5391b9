"""KMM's template substitution: a8m/envsubst as KMM runs it (internal/utils/replaceStrings.go
ReplaceInTemplates, parse.Restrictions{} i.e. relaxed), in our own words.

It sits with the key declarations because the kmm.* answers are checked with it as they are
typed; the KMM method (kmwizard/kmm/variables.py) substitutes with it.
"""
from __future__ import annotations


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
