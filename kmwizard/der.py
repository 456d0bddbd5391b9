"""A minimal DER reader: X.509 certificates and PKCS#1/PKCS#8/SEC1 private keys, in PEM or DER.

Enough to check that a file is what it claims (a certificate, a private key), that a key and a
certificate belong together, and when a certificate expires, without a dependency: ``cryptography``
is not pulled in by anything kmwizard requires, and shelling out to ``openssl`` would need it
installed and would pass key material through another program.  Used by the KVC entitlement
certificates and the KMM signing key pair.  Error messages never quote key material.
"""
from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime, timedelta, timezone
from typing import Optional

from kmwizard.records import record
from kmwizard.regexps import lazy

_PEM = lazy(r"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", re.S)


@record(frozen=True)
class CertInfo:
    serial: int
    not_before: datetime
    not_after: datetime
    public_key: bytes  # subjectPublicKey bits (RSAPublicKey DER for RSA, the point for EC)


# Entitlement and signing certificates alike: a warning this many days before they expire.
EXPIRY_WARNING_DAYS = 30


def expiry_state(cert: CertInfo, now: datetime) -> Optional[str]:
    """"expired", "expiring" (within EXPIRY_WARNING_DAYS) or None."""
    if cert.not_after <= now:
        return "expired"
    if cert.not_after - now <= timedelta(days=EXPIRY_WARNING_DAYS):
        return "expiring"
    return None

def _pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError("it is not PEM text") from None
    blocks = []
    for label, body in _PEM.findall(text):
        if ":" in body:  # RFC 1421 headers (Proc-Type: 4,ENCRYPTED) mean an encrypted key
            raise ValueError(f"its {label} block is encrypted; the node cannot use an encrypted key")
        try:
            blocks.append((label, base64.b64decode("".join(body.split()), validate=True)))
        except binascii.Error:
            raise ValueError(f"its {label} block is not valid base64") from None
    if not blocks:
        raise ValueError("no -----BEGIN ...----- block found")
    return blocks


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the DER element at pos."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if tag & 0x1F == 0x1F:
        raise ValueError("unsupported DER tag")
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    items, pos = [], start
    while pos < end:
        tag, vstart, vend = _tlv(data, pos)
        items.append((tag, vstart, vend))
        pos = vend
    if pos != end:
        raise ValueError("DER element overruns its container")
    return items


def _sequence(data: bytes, start: int = 0, end: Optional[int] = None, *, whole: bool = False):
    tag, vstart, vend = _tlv(data, start)
    if tag != 0x30:
        raise ValueError("expected a DER SEQUENCE")
    if whole and vend != (len(data) if end is None else end):
        raise ValueError("trailing bytes after the DER structure")
    return _children(data, vstart, vend)


def _time(data: bytes, item: tuple[int, int, int]) -> datetime:
    tag, start, end = item
    text = data[start:end].decode("ascii", "replace")
    formats = {0x17: "%y%m%d%H%M%SZ", 0x18: "%Y%m%d%H%M%SZ"}
    if tag not in formats:
        raise ValueError("bad validity time")
    try:
        return datetime.strptime(text, formats[tag]).replace(tzinfo=timezone.utc)
    except ValueError:
        raise ValueError(f"bad validity time {text!r}") from None


def is_pem(data: bytes) -> bool:
    return b"-----BEGIN " in data[:4096]


def read_certificate(data: bytes) -> CertInfo:
    """Serial, validity and public key of the first CERTIFICATE block (entitlement certificate
    files also carry ENTITLEMENT DATA and RSA SIGNATURE blocks, which are skipped), or of a DER
    certificate (the kernel's signing_key.x509)."""
    if is_pem(data):
        blocks = [der for label, der in _pem_blocks(data) if label == "CERTIFICATE"]
        if not blocks:
            raise ValueError("it has no CERTIFICATE block")
        der = blocks[0]
    elif data[:1] == b"\x30":
        der = data
    else:
        raise ValueError("it is not PEM (no -----BEGIN CERTIFICATE----- block found) nor a DER certificate")
    try:
        cert = _sequence(der, whole=True)
        tbs = _children(der, cert[0][1], cert[0][2])
        if tbs and tbs[0][0] == 0xA0:  # [0] version
            tbs = tbs[1:]
        serial_item, _sig, _issuer, validity, _subject, spki = tbs[:6]
        if serial_item[0] != 0x02:
            raise ValueError("bad serial number")
        not_before, not_after = (_time(der, item) for item in _children(der, validity[1], validity[2]))
        _alg, bits = _children(der, spki[1], spki[2])
        if bits[0] != 0x03:
            raise ValueError("bad public key")
        return CertInfo(int.from_bytes(der[serial_item[1]:serial_item[2]], "big"), not_before, not_after,
                        der[bits[1] + 1:bits[2]])  # skip the BIT STRING's unused-bits byte
    except (ValueError, IndexError, TypeError) as exc:
        raise ValueError(f"its certificate does not parse as X.509 ({exc})") from None


def read_private_key_public_part(data: bytes) -> Optional[bytes]:
    """The public half the key carries, in the certificate's encoding, to check the pair.

    None when the key does not carry it (an EC key without the optional public key)."""
    if not is_pem(data):
        return _der_private_key_public_part(data)
    labels = {label: der for label, der in _pem_blocks(data)}
    if "ENCRYPTED PRIVATE KEY" in labels:
        raise ValueError("it is encrypted; the node cannot use an encrypted key")
    try:
        if "RSA PRIVATE KEY" in labels:
            return _rsa_public(labels["RSA PRIVATE KEY"], 0, len(labels["RSA PRIVATE KEY"]))
        if "EC PRIVATE KEY" in labels:
            return _ec_public(labels["EC PRIVATE KEY"], 0, len(labels["EC PRIVATE KEY"]))
        if "PRIVATE KEY" in labels:  # PKCS#8: version, algorithm, OCTET STRING holding the key
            der = labels["PRIVATE KEY"]
            items = _sequence(der, whole=True)
            alg = _children(der, items[1][1], items[1][2])
            oid = der[alg[0][1]:alg[0][2]]
            inner = items[2]
            if inner[0] != 0x04:
                raise ValueError("bad PKCS#8 key")
            if oid == bytes.fromhex("2a864886f70d010101"):  # rsaEncryption
                return _rsa_public(der, inner[1], inner[2])
            if oid == bytes.fromhex("2a8648ce3d0201"):  # id-ecPublicKey
                return _ec_public(der, inner[1], inner[2])
            return None  # another algorithm: it parsed, the pairing cannot be checked here
    except (ValueError, IndexError) as exc:
        raise ValueError(f"it does not parse as a private key ({exc})") from None
    raise ValueError(f"it has no PRIVATE KEY block (found: {', '.join(sorted(labels))})")


def _der_private_key_public_part(der: bytes) -> Optional[bytes]:
    """A DER private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC), whichever parses."""
    if der[:1] != b"\x30":
        raise ValueError("it is not PEM (no -----BEGIN ... PRIVATE KEY----- block found) nor a DER private key")
    for label in ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"):
        pem = f"-----BEGIN {label}-----\n{base64.b64encode(der).decode()}\n-----END {label}-----\n".encode()
        try:
            return read_private_key_public_part(pem)
        except ValueError:
            continue
    raise ValueError("it does not parse as a DER private key (PKCS#8, PKCS#1 or SEC1)")


def _rsa_public(der: bytes, start: int, end: int) -> bytes:
    items = _sequence(der, start, end, whole=True)
    modulus, exponent = items[1], items[2]
    if modulus[0] != 0x02 or exponent[0] != 0x02:
        raise ValueError("bad RSA key")
    # Re-encode as the certificate's RSAPublicKey: SEQUENCE { modulus, publicExponent }.
    body = der[modulus[1] - _header_len(der, modulus):modulus[2]] + \
        der[exponent[1] - _header_len(der, exponent):exponent[2]]
    return b"\x30" + _der_length(len(body)) + body


def _ec_public(der: bytes, start: int, end: int) -> Optional[bytes]:
    items = _sequence(der, start, end, whole=True)
    for tag, vstart, vend in items[2:]:
        if tag == 0xA1:  # [1] publicKey BIT STRING
            inner_tag, bstart, bend = _tlv(der, vstart)
            if inner_tag != 0x03:
                raise ValueError("bad EC public key")
            return der[bstart + 1:bend]
    return None


def _header_len(der: bytes, item: tuple[int, int, int]) -> int:
    length = item[2] - item[1]
    return 1 + len(_der_length(length))


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


