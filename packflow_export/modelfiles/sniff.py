"""What a file is, from its first bytes (never from its name): containers, pickles and the safe formats."""

from __future__ import annotations

import json
import zlib

HEAD = 1024   # bytes peeked to recognise a format

ZIP = "zip"
TAR = "tar"
NPY = "npy"
H5 = "h5"
PICKLE = "pickle"


def compression(head: bytes) -> str:
    """The compression framing the bytes start with: joblib's (zlib, gzip, bz2, lzma, xz, lz4) or ""."""
    if head[:3] == b"\x1f\x8b\x08":
        return "gzip"
    if head[:3] == b"BZh" and head[3:4] in b"123456789" and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90"):
        return "bz2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if head[:4] == b"\x04\x22\x4d\x18":
        return "lz4"
    if head[:2] == b"\x5d\x00" and len(head) >= 13 and head[12] in (0, 0xFF):
        return "lzma"   # lzma-alone: properties, dictionary size, size (unknown: all 0xFF; joblib writes real)
    if len(head) >= 2 and head[0] == 0x78 and ((head[0] << 8) | head[1]) % 31 == 0:
        try:
            zlib.decompressobj().decompress(head, 1)
        except zlib.error:
            return ""
        return "zlib"
    return ""


def container(head: bytes) -> str:
    """zip, tar, npy, h5, pickle (protocol 2+) or ""."""
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return ZIP
    if head[:6] == b"\x93NUMPY":
        return NPY
    if head[:8] == b"\x89HDF\r\n\x1a\n" or head[512:520] == b"\x89HDF\r\n\x1a\n":
        return H5
    if len(head) >= 2 and head[0] == 0x80 and head[1] <= 5:
        return PICKLE
    if head[257:262] == b"ustar":
        return TAR
    return ""


def _looks_like_onnx(head: bytes) -> bool:
    """ModelProto starts with ir_version (field 1, varint) then another ModelProto field."""
    if len(head) < 4 or head[0] != 0x08:
        return False
    index = 1
    while index < len(head) and head[index] & 0x80 and index < 10:
        index += 1
    return index + 1 < len(head) and head[index] < 0x20 and head[index + 1] in (0x12, 0x1A, 0x22, 0x28, 0x32,
                                                                                   0x3A, 0x42, 0x52, 0x72)


def _looks_like_safetensors(head: bytes, size: int | None) -> bool:
    if len(head) < 10 or head[8:9] != b"{":
        return False
    length = int.from_bytes(head[:8], "little")
    return 2 <= length <= 100 << 20 and (size is None or length + 8 <= size)


def _json_kind(head: bytes) -> str:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] not in (b"{", b"["):
        return ""
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        return ""
    if b'"learner"' in text[:200]:
        return "xgboost-json"
    return "json"


def safe_format(head: bytes, size: int | None) -> str:
    """A format whose loader runs no code: the Format value, or ""."""
    if head[:4] == b"GGUF":
        return "gguf"
    if _looks_like_safetensors(head, size):
        return "safetensors"
    if head[:1] == b"{" and head[1:2] in (b"L", b"i", b"I", b"U", b"l", b"$", b"#") and b"learner" in head[:40]:
        return "xgboost-ubj"
    if head[:4] == b"binf" or head[:4] == b"bs64":
        return "xgboost-binary"
    if head.startswith(b"tree\nversion=") or head.startswith(b"tree\r\nversion="):
        return "lightgbm-text"
    if _looks_like_onnx(head):
        return "onnx"
    return _json_kind(head)


def json_value(data: bytes) -> object:
    """Parsed JSON, or None when the bytes are not JSON."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None
