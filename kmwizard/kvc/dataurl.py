"""RFC 2397 data URLs as Ignition decodes them (``contents.source`` of a file)."""
from __future__ import annotations

import base64

from kmwizard.regexps import lazy

_TOKEN = lazy(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_URL_DATA_BAD = lazy(r"[^\x21-\x7e]|[<>#\"{}|\\^\[\]`]")
_PERCENT_BAD = lazy(r"%(?![0-9A-Fa-f]{2})")
_B64 = lazy(r"^[A-Za-z0-9+/]*={0,2}$")


def decode_data_url(source: str) -> bytes:
    """Decode a ``data:`` URL as Ignition does; ValueError names what is wrong."""
    if not source.startswith("data:"):
        raise ValueError("not a data URL")
    comma = source.find(",")
    if comma < 0:
        raise ValueError("missing ',' before the data")
    params = source[5:comma].split(";")
    is_base64 = len(params) > 1 and params[-1] == "base64"
    if is_base64:
        params = params[:-1]
    mediatype = params[0]
    if mediatype and not (mediatype.count("/") == 1 and all(_TOKEN.match(p) for p in mediatype.split("/"))):
        raise ValueError(f"invalid media type {mediatype!r}")
    for param in params[1:]:
        attr, eq, value = param.partition("=")
        if not eq or not _TOKEN.match(attr) or not value:
            raise ValueError(f"invalid parameter {param!r} (expected attribute=value)")
    data = source[comma + 1:]
    if is_base64:
        if not _B64.match(data) or len(data) % 4:
            raise ValueError("base64 data is not standard padded base64")
        return base64.b64decode(data, validate=True)
    bad = _URL_DATA_BAD.search(data)
    if bad:
        raise ValueError(f"invalid data character {bad.group()!r} at offset {comma + 1 + bad.start()} "
                         "(RFC 2397: escape it as %XX)")
    if _PERCENT_BAD.search(data):
        raise ValueError("'%' not followed by two hex digits")
    from urllib.parse import unquote_to_bytes  # '+' stays '+', as in Ignition
    return unquote_to_bytes(data)
