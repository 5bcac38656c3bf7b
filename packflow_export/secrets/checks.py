"""What decides that a matched value is a secret and not a stand-in for one: placeholders, documented example
values, randomness (Shannon entropy), and validators that read a token's own structure (a checksum, a JWT
header, the PEM label inside base64)."""

from __future__ import annotations

import binascii
import math
import re
import zlib
from collections import Counter
from typing import Callable, Optional

BASE62_DIGITS_FIRST = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
BASE62_LOWER_FIRST = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ASCENDING_RUN = 6  # six characters in a row, each the next one (abcdef, 123456): written by a person


def entropy(value: bytes) -> float:
    """Shannon entropy in bits per character: random tokens score high, words and repeats low."""
    if not value:
        return 0.0
    total = len(value)
    return -sum(count / total * math.log2(count / total) for count in Counter(value).values())


def _has_ascending_run(value: bytes) -> bool:
    run = 1
    for before, after in zip(value, value[1:], strict=False):
        run = run + 1 if after == before + 1 else 1
        if run >= _ASCENDING_RUN:
            return True
    return False


def is_placeholder(value: bytes, pattern: Optional["re.Pattern[bytes]"], examples: frozenset[bytes]) -> bool:
    """True for a value that only stands for a secret: `<your-token>`, `${TOKEN}`, `AKIAXXXXXXXXXXXXXXXX`, a
    documented example key, all one character, or a typed sequence such as abcdef123456."""
    if value in examples or (pattern is not None and pattern.search(value)):
        return True
    core = value[4:] if len(value) >= 16 and value[:4].isalpha() and value[:4].isupper() else value  # AKIAXXXX...
    if len(set(core.lower())) <= 3:
        return True
    return _has_ascending_run(value)


def _base62(number: int, digits: bytes, width: int) -> bytes:
    out = bytearray()
    while number:
        number, rest = divmod(number, 62)
        out.append(digits[rest])
    return bytes(reversed(out)).rjust(width, digits[:1])


def crc32_base62_suffix(secret: bytes) -> Optional[bool]:
    """GitHub's and npm's token format: `prefix_` + 30 random base62 characters + their CRC-32 as 6 base62
    digits. A match proves the token; a mismatch leaves the decision to entropy (older or altered formats)."""
    body = secret.rsplit(b"_", 1)[-1]
    if len(body) < 7:
        return None
    random_part, checksum = body[:-6], body[-6:]
    crc = zlib.crc32(random_part)
    if checksum in (_base62(crc, BASE62_DIGITS_FIRST, 6), _base62(crc, BASE62_LOWER_FIRST, 6)):
        return True
    return None


def _b64decode(text: bytes) -> Optional[bytes]:
    text = text.replace(b"-", b"+").replace(b"_", b"/")
    try:
        return binascii.a2b_base64(text + b"=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def jwt_header(secret: bytes) -> Optional[bool]:
    """A JWT's first segment is base64url JSON naming its algorithm (RFC 7519, RFC 7515): anything else that
    starts with eyJ is not a token."""
    decoded = _b64decode(secret.split(b".", 1)[0])
    if decoded is None or not decoded.startswith(b"{"):
        return False
    return b'"alg"' in decoded or b'"typ"' in decoded or b'"enc"' in decoded


def base64_private_key(secret: bytes) -> Optional[bool]:
    """Base64 of a PEM private key (a kubeconfig's client-key-data, a Helm value): the label says so."""
    usable = secret[:len(secret) - len(secret) % 4]
    decoded = _b64decode(usable)
    return decoded is not None and b"PRIVATE KEY" in decoded


def base64_text(secret: bytes) -> Optional[bool]:
    """A Kubernetes Secret's data value is base64: it must decode, and to something that is not empty."""
    decoded = _b64decode(secret)
    return None if decoded is not None and len(decoded) >= 6 else False


def base64_userpass(secret: bytes) -> Optional[bool]:
    """Docker's config.json `auth` is base64 of `user:password`: anything else is not a credential."""
    decoded = _b64decode(secret)
    return None if decoded is not None and 0 < decoded.find(b":") < len(decoded) - 1 else False


VALIDATORS: dict[str, Callable[[bytes], Optional[bool]]] = {
    "crc32-base62-suffix": crc32_base62_suffix,
    "jwt-header": jwt_header,
    "base64-private-key": base64_private_key,
    "base64": base64_text,
    "base64-userpass": base64_userpass,
}
