"""The overlay: fields of an imported object that the answers cannot express, kept verbatim.

An answer file may carry ``overlay:``, a list of ``{object, path, value}`` records.  After the
method's renderer has built the objects, ``render`` sets each ``value`` at ``path`` in the object
named by ``object`` (``Kind/name``, or ``Kind/namespace/name`` for namespaced objects), so that
generating reproduces what a hand-written object held.  Overlays only add or replace: what the
generator adds that the original lacked is a change generating makes, shown, never hidden.

Field paths read like kubectl's: ``spec.config.passwd.users[name=core].groups``.  A ``[field=value]``
step picks the list item whose ``field`` equals ``value`` (lists of units, files, users are keyed
like that, so the path survives reordering); ``[3]`` is an index; ``["a.b/c"]`` a key with dots.

This module depends on nothing but ``findings``: it is used by ``answers`` (validation), ``render``
(applying) and ``importing`` (computing an overlay from an original and its regeneration).
"""
from __future__ import annotations

import copy
import json
import re
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

from kmwizard.regexps import lazy

Step = Union[str, int, tuple]   # key, index, or (field, value) selector
Path = tuple

_NAME = lazy(r"[A-Za-z0-9_$@/:-]+")
_SELECT = lazy(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)")
LIST_KEYS = ("name", "path")    # fields that identify an item in Ignition's and Kubernetes' lists


class OverlayError(ValueError):
    """A path that cannot be parsed or followed; the message says where."""


# --- paths ------------------------------------------------------------------------

def parse_path(text: str) -> Path:
    """``a.b[name=x].c[0]["d.e"]`` -> ("a", "b", ("name", "x"), "c", 0, "d.e")."""
    if not isinstance(text, str) or not text:
        raise OverlayError("a field path is a non-empty string such as spec.config.passwd")
    steps: list[Step] = []
    i, expect_name = 0, True
    while i < len(text):
        char = text[i]
        if char == "[":
            end, step = _bracket(text, i)
            steps.append(step)
            i, expect_name = end, False
        elif char == ".":
            if expect_name:
                raise OverlayError(f"{text!r}: empty step at offset {i}")
            i, expect_name = i + 1, True
        else:
            match = _NAME.match(text, i)
            if not match or not expect_name:
                raise OverlayError(f"{text!r}: unexpected {char!r} at offset {i} (quote keys with other "
                                   'characters as ["key"])')
            steps.append(match.group())
            i, expect_name = match.end(), False
    if expect_name:
        raise OverlayError(f"{text!r} ends with '.'")
    return tuple(steps)


def _bracket(text: str, start: int) -> tuple[int, Step]:
    if text.startswith('["', start):
        decoder = json.JSONDecoder()
        try:
            key, end = decoder.raw_decode(text, start + 1)
        except ValueError:
            raise OverlayError(f"{text!r}: unterminated quoted key at offset {start}") from None
        if not text.startswith("]", end):
            raise OverlayError(f"{text!r}: expected ']' at offset {end}")
        return end + 1, key
    close = _closing(text, start)
    inner = text[start + 1:close]
    if inner.isdigit():
        return close + 1, int(inner)
    match = _SELECT.fullmatch(inner)
    if not match:
        raise OverlayError(f"{text!r}: [{inner}] is neither an index nor a field=value selector")
    value = match.group(2)
    if value.startswith('"'):
        try:
            value = json.loads(value)
        except ValueError:
            raise OverlayError(f"{text!r}: bad quoted value in [{inner}]") from None
    return close + 1, (match.group(1), value)


def _closing(text: str, start: int) -> int:
    """Index of the ']' closing the bracket at ``start`` (a quoted selector value may hold ']')."""
    i, quoted = start + 1, False
    while i < len(text):
        if text[i] == '"' and text[i - 1] != "\\":
            quoted = not quoted
        elif text[i] == "]" and not quoted:
            return i
        i += 1
    raise OverlayError(f"{text!r}: '[' at offset {start} is not closed")


def format_path(path: Sequence[Step]) -> str:
    out = []
    for step in path:
        if isinstance(step, int):
            out.append(f"[{step}]")
        elif isinstance(step, tuple):
            field, value = step
            shown = value if re.fullmatch(r'[^\]"]*', value) and value else json.dumps(value)
            out.append(f"[{field}={shown}]")
        elif _NAME.fullmatch(step):
            out.append(("." if out else "") + step)
        else:
            out.append(f"[{json.dumps(step)}]")
    return "".join(out)


# --- applying ---------------------------------------------------------------------

def set_path(obj: Any, path: Sequence[Step], value: Any) -> None:
    """Set ``value`` at ``path`` inside ``obj`` in place, creating mappings and keyed list items."""
    if not path:
        raise OverlayError("an empty path would replace the whole object")
    node = obj
    for depth, step in enumerate(path):
        last = depth == len(path) - 1
        where = format_path(path[:depth + 1])
        if isinstance(step, str):
            if not isinstance(node, dict):
                raise OverlayError(f"{where}: the parent is a {type(node).__name__}, not a mapping")
            if last:
                node[step] = copy.deepcopy(value)
                return
            node = node.setdefault(step, [] if not isinstance(path[depth + 1], str) else {})
        elif isinstance(step, int):
            if not isinstance(node, list) or step > len(node):
                raise OverlayError(f"{where}: no list item {step} to set")
            if step == len(node):
                node.append(copy.deepcopy(value) if last else {})
                if last:
                    return
            elif last:
                node[step] = copy.deepcopy(value)
                return
            node = node[step]
        else:
            field, key = step
            if not isinstance(node, list):
                raise OverlayError(f"{where}: the parent is a {type(node).__name__}, not a list")
            index = next((i for i, item in enumerate(node) if isinstance(item, dict) and item.get(field) == key),
                         None)
            if last:
                item = copy.deepcopy(value)
                if index is None:
                    node.append(item)
                else:
                    node[index] = item
                return
            if index is None:
                node.append({field: key})
                index = len(node) - 1
            node = node[index]


def apply(obj: dict, records: Iterable[Mapping]) -> dict:
    """A copy of ``obj`` with every record's value set at its path."""
    result = copy.deepcopy(obj)
    for record in records:
        set_path(result, parse_path(record["path"]), _plain(record["value"]))
    return result


def _plain(value: Any) -> Any:
    """Answers store mappings and lists frozen; objects need plain dicts and lists."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def object_id(obj: Mapping) -> str:
    """``Kind/name`` or ``Kind/namespace/name``: how an overlay record names its object."""
    meta = obj.get("metadata") or {}
    parts = [str(obj.get("kind", "")), *([str(meta["namespace"])] if meta.get("namespace") else []),
             str(meta.get("name", ""))]
    return "/".join(parts)


# --- checking (the answer key's validator) --------------------------------------------

RECORD_FIELDS = {"object", "path", "value"}


def check_records(value: Any, _answers=None) -> Optional[str]:
    for i, record in enumerate(value or ()):
        if not isinstance(record, Mapping):
            return f"overlay[{i}] must be a mapping with object, path and value"
        missing = sorted(RECORD_FIELDS - set(record))
        unknown = sorted(set(record) - RECORD_FIELDS)
        if missing or unknown:
            what = (f"lacks {', '.join(missing)}" if missing else "") + \
                   ("; " if missing and unknown else "") + (f"has unknown {', '.join(unknown)}" if unknown else "")
            return f"overlay[{i}] {what}: each record is {{object: Kind/name, path: a.b[name=x], value: ...}}"
        if not isinstance(record["object"], str) or record["object"].count("/") not in (1, 2):
            return f"overlay[{i}].object {record['object']!r} is not Kind/name or Kind/namespace/name"
        try:
            parse_path(record["path"])
        except OverlayError as exc:
            return f"overlay[{i}].path: {exc}"
    return None


# --- computing an overlay --------------------------------------------------------------

Equivalent = Callable[[Path, Any, Any], bool]


def differences(original: Any, generated: Any, *, equivalent: Optional[Equivalent] = None,
                path: Path = ()) -> list[tuple[Path, Any]]:
    """(path, original value) for every field of ``original`` that ``generated`` lacks or holds
    differently: setting them all on ``generated`` reproduces ``original`` (except fields only
    ``generated`` has).  ``equivalent(path, a, b)`` may declare two different values the same
    (e.g. one file's contents in two encodings)."""
    if equivalent is not None and path and equivalent(path, original, generated):
        return []
    if isinstance(original, dict) and isinstance(generated, dict):
        out = []
        for key, value in original.items():
            if key not in generated:
                out.append((path + (key,), value))
            else:
                out.extend(differences(value, generated[key], equivalent=equivalent, path=path + (key,)))
        return out
    if isinstance(original, list) and isinstance(generated, list):
        field = _list_key(original, generated)
        if field is not None:
            by_key = {item[field]: item for item in generated}
            out = []
            for item in original:
                step = (field, item[field])
                if item[field] in by_key:
                    out.extend(differences(item, by_key[item[field]], equivalent=equivalent, path=path + (step,)))
                else:
                    out.append((path + (step,), item))
            return out
        if len(original) == len(generated):
            out = []
            for i, (a, b) in enumerate(zip(original, generated)):
                out.extend(differences(a, b, equivalent=equivalent, path=path + (i,)))
            if len(out) <= 1 or not path:
                return out
            return [(path, original)]  # many changes inside one list: keep the list as a whole
    if original == generated and type(original) is type(generated):
        return []
    if not path:
        raise OverlayError("the original is not an object")
    return [(path, original)]


def _list_key(*lists: list) -> Optional[str]:
    for field in LIST_KEYS:
        if all(isinstance(item, dict) and isinstance(item.get(field), str) for lst in lists for item in lst) \
                and all(len({item[field] for item in lst}) == len(lst) for lst in lists) and any(lists):
            return field
    return None
