"""Kernel-mapping regexps and image templates: what KMM accepts but that cannot work as meant
(unanchored or control-escape regexps, images that are no reference once substituted, unknown or
unbraced variables)."""
from __future__ import annotations

import re

from kmwizard.findings import Finding, error, warning
from kmwizard.kmm.variables import IMAGE_VARIABLES, SubstitutionError, explain, parse_image, references, substitute
from kmwizard.regexps import lazy

# \f \v \a \t \n \r (an odd number of backslashes before the letter): control characters.
_CONTROL_ESCAPE = lazy(r"(?<!\\)(?:\\\\)*(\\[fvatnr])")

def regexp_findings(regexp: str, where: str) -> list[Finding]:
    findings = []
    if not regexp.startswith("^") or not regexp.endswith("$"):
        findings.append(warning(where, f"regexp '{regexp}' is not anchored: KMM searches anywhere in the kernel "
                                "string, so it also matches kernels that merely contain it",
                                "start it with ^ and end it with $", code="kmm-regexp-unanchored"))
    dots = _literal_dots(regexp)
    if dots:
        findings.append(warning(where, f"regexp '{regexp}' has an unescaped '.' between literal characters "
                                f"(at {', '.join(str(d) for d in dots)}): '.' matches any character",
                                "escape literal dots as \\. (e.g. el9\\.x86_64)", code="kmm-regexp-dot"))
    controls = sorted(set(_CONTROL_ESCAPE.findall(regexp)))
    if controls:
        findings.append(warning(where, f"regexp '{regexp}' has {', '.join(controls)}: a control character that no "
                                "kernel version contains, so this part never matches (was a path or a word meant?)",
                                "remove the backslash, or escape a literal backslash as \\\\",
                                code="kmm-regexp-control"))
    return findings


def _literal_dots(regexp: str) -> list[int]:
    """Positions of '.' outside classes that sit between literal word characters."""
    positions, in_class, i = [], False, 0
    while i < len(regexp):
        c = regexp[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "." and 0 < i < len(regexp) - 1:
            before, after = regexp[i - 1], regexp[i + 1]
            escaped_before = i >= 2 and regexp[i - 2] == "\\"
            if (before.isalnum() or before == "_") and not escaped_before and (after.isalnum() or after == "_"):
                positions.append(i)
        i += 1
    return positions


def matches_many(regexp: str) -> bool:
    """False when the regexp can only match one kernel string (a literal with escaped dots)."""
    body = regexp[1:] if regexp.startswith("^") else regexp
    body = body[:-1] if body.endswith("$") and not body.endswith("\\$") else body
    if not (regexp.startswith("^") and regexp.endswith("$")):
        return True
    body = re.sub(r"\\([.\-+_])", "", body)
    return bool(re.search(r"[.*+?()\[\]{}|\\^$]", body))


def image_findings(template: str, where: str, allowed: tuple, values: dict) -> list[Finding]:
    """What the webhook lets through but the pull does not (the webhook only wants a ':' or '@')."""
    findings = variable_findings(template, where, allowed)
    try:
        resolved = substitute(template, values)
    except SubstitutionError as exc:
        what, fix = explain(exc)
        findings.append(error(where, f"{template!r}: the webhook accepts it, but {what}", fix,
                              code="kmm-variable-unterminated"))
        return findings
    ref, problem = parse_image(resolved)
    if ref is None:
        findings.append(error(where, f"image {template!r} is not a valid image reference ({problem}): the webhook "
                              "accepts it, but every pull of it fails", "write registry/org/name:tag or "
                              "name@sha256:<digest>", code="kmm-image-invalid"))
    elif not ref.tag and not ref.digest and (":" in resolved or "@" in resolved or not where.endswith(
            "containerImage")):
        findings.append(warning(where, f"image {template!r} has no tag or digest (the ':' is a registry port, not "
                                "a tag): KMM accepts it and pulls it as :latest", "add a tag such as "
                                ":${KERNEL_FULL_VERSION}, or @sha256:<digest>", code="kmm-image-latest"))
    return findings


def variable_findings(template: str, where: str, allowed: tuple) -> list[Finding]:
    findings = []
    bare = []
    for ref in references(template):
        if ref.name not in allowed:
            known = ", ".join(f"${{{v}}}" for v in allowed)
            hint = " (KERNEL_XY does not exist: use ${KERNEL_X}.${KERNEL_Y})" if ref.name == "KERNEL_XY" else ""
            if ref.name in IMAGE_VARIABLES:
                message = f"{ref.text} is not substituted in this field (only {known} are): it becomes empty"
            else:
                message = f"{ref.text} is not a KMM variable{hint}: it silently becomes empty"
            findings.append(error(where, message, f"use one of {known}", code="kmm-variable-unknown"))
        elif not ref.braced:
            bare.append(ref)
    if bare:
        names = ", ".join(r.text for r in bare)
        findings.append(warning(where, f"{names} without braces: envsubst reads the longest name, so "
                                f"{bare[0].text}_x or {bare[0].text}v2 would read another (empty) variable",
                                "write " + ", ".join(f"${{{r.name}}}" for r in bare), code="kmm-variable-braces"))
    return findings
