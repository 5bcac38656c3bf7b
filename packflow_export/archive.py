"""Writing and verifying the archive: reproducible, streamed, atomic, checksummed."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import tempfile
import time
import zipfile
from pathlib import Path, PurePosixPath
from typing import Callable, NamedTuple, Optional

from . import __version__

BUFFER_BYTES = 1 << 20
SAMPLE_BYTES = 1 << 16
DEFLATE_LEVEL = 1  # ISA-L level 1: fastest level with a useful ratio; fixed, so archives are reproducible
DEFLATE_BLOCK_BYTES = 1 << 20  # fixed: the archive's bytes depend on it
DEFLATE_THREADS = max(1, min(4, os.cpu_count() or 1))
STORE_RATIO = 0.95  # deflate only when the sample shrinks below this
FIXED_DATE_EPOCH = 315532800  # 1980-01-01T00:00:00Z, the earliest date a zip can hold
ZIP64_FILE_BYTES = (1 << 32) - (1 << 24)
# Already-compressed formats: stored without sampling.
STORED_SUFFIXES = frozenset({
    ".zip", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".7z", ".rar", ".whl", ".jar", ".png", ".jpg", ".jpeg", ".gif",
    ".webp", ".avif", ".heic", ".mp3", ".mp4", ".m4a", ".ogg", ".webm", ".mkv", ".mov", ".pdf", ".docx", ".xlsx",
    ".pptx", ".parquet", ".lz4", ".br",
})


class ArchiveError(Exception):
    """The archive cannot be written (exit 3)."""


class Member(NamedTuple):
    name: str
    size: int
    method: str  # "deflated" or "stored"


class ArchiveResult(NamedTuple):
    path: Path
    sha256: str
    size: int
    members: list


def archive_stem(name: str) -> str:
    """The project name as archives spell it: '-' becomes '_', so the last '-' separates the version."""
    return name.replace("-", "_")


def archive_name(name: str, version: str) -> str:
    """`{name}-{version}.zip`, named by archive_stem()."""
    return f"{archive_stem(name)}-{version}.zip"


def source_date_epoch() -> int:
    """SOURCE_DATE_EPOCH clamped to what a zip can hold, or one fixed date."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return FIXED_DATE_EPOCH
    try:
        epoch = int(value)
    except ValueError:
        from .config import UsageError

        raise UsageError(f"SOURCE_DATE_EPOCH={value!r} is not a whole number of seconds") from None
    return min(max(epoch, FIXED_DATE_EPOCH), 4354819199)  # 2107-12-31, the last date a zip can hold


def _deflater():
    """The deflate implementation: ISA-L when installed (several times faster), else zlib."""
    try:
        from isal import isal_zlib as implementation
    except ImportError:
        import zlib as implementation
    return implementation


def choose_method(path: Path, size: int) -> str:
    """Store what will not shrink (by suffix, or a deflated sample from the start and middle), deflate the rest."""
    if size == 0 or path.suffix.lower() in STORED_SUFFIXES:
        return "stored"
    deflate = _deflater()
    with path.open("rb") as handle:
        sample = handle.read(SAMPLE_BYTES)
        if size > 4 * SAMPLE_BYTES:
            handle.seek(size // 2)
            sample += handle.read(SAMPLE_BYTES)
    compressed = deflate.compressobj(DEFLATE_LEVEL, deflate.DEFLATED, -15)
    shrunk = len(compressed.compress(sample)) + len(compressed.flush())
    return "deflated" if shrunk < STORE_RATIO * len(sample) else "stored"


class BlockDeflater:
    """A compressobj that deflates fixed 1 MiB blocks, on worker threads once a file spans several blocks.

    Each block is compressed on its own and ends with a sync flush (the last with finish), so the blocks join
    into one valid raw deflate stream whose bytes depend only on the content, never on the number of threads.
    """

    def __init__(self):
        self._deflate = _deflater()
        self._buffer = bytearray()
        self._pending: list = []
        self._pool = None

    def _block(self, data: bytes, final: bool) -> bytes:
        deflate = self._deflate
        compressor = deflate.compressobj(DEFLATE_LEVEL, deflate.DEFLATED, -15)
        return compressor.compress(data) + compressor.flush(deflate.Z_FINISH if final else deflate.Z_SYNC_FLUSH)

    def compress(self, data) -> bytes:
        self._buffer += data
        output = []
        while len(self._buffer) > DEFLATE_BLOCK_BYTES:
            block = bytes(self._buffer[:DEFLATE_BLOCK_BYTES])
            del self._buffer[:DEFLATE_BLOCK_BYTES]
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(max_workers=DEFLATE_THREADS)
            self._pending.append(self._pool.submit(self._block, block, False))
            while self._pending and (self._pending[0].done() or len(self._pending) > 2 * DEFLATE_THREADS):
                output.append(self._pending.pop(0).result())
        return b"".join(output)

    def flush(self, mode=None) -> bytes:
        output = [future.result() for future in self._pending]
        output.append(self._block(bytes(self._buffer), final=True))
        self._pending, self._buffer = [], bytearray()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        return b"".join(output)


def _use_fast_deflate(handle) -> None:
    """Give a zipfile write handle the block deflater: zipfile has no public hook for its compressor.

    The member is a standard deflate stream either way; if a future Python renames the attribute, zipfile's
    own zlib compressor is used (correct, slower, and with different bytes).
    """
    if hasattr(handle, "_compressor"):
        handle._compressor = BlockDeflater()


def provenance(epoch: int, git_commit: Optional[str], git_dirty: Optional[bool]) -> bytes:
    data = {"tool": f"packflow_export {__version__}", "source_date_epoch": epoch}
    if git_commit:
        data["git"] = {"commit": git_commit, "dirty": bool(git_dirty)}
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def create_archive(files, target: Path, *, comment: bytes = b"", epoch: int = FIXED_DATE_EPOCH,
                   force: bool = False, progress: Optional[Callable[[int], None]] = None) -> ArchiveResult:
    """Write `files` (sorted SelectedFile) to `target` atomically: temp file, CRC re-test, fsync, rename.

    On any error or interrupt the temporary file is removed and nothing exists under the target name.
    """
    target = Path(target)
    if not target.parent.is_dir():
        raise ArchiveError(f"output directory {target.parent} does not exist")
    if target.exists() and not force:
        raise ArchiveError(f"{target} already exists; a release is immutable (use --force to overwrite)")
    date_time = time.gmtime(epoch)[:6]
    members = []
    sidecar = target.with_name(target.name + ".sha256")
    temp, committed = None, False
    try:
        with _signals_held():  # an interrupt cannot land between creating the temp file and knowing its name
            descriptor, temp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".partial", dir=target.parent)
            temp = Path(temp_name)
        with os.fdopen(descriptor, "wb") as raw:
            with zipfile.ZipFile(raw, "w", allowZip64=True) as archive:
                for item in files:
                    members.append(_add_member(archive, item, date_time, progress))
                archive.comment = comment
            raw.flush()
            digest, problem = _hash_and_test(temp, sync=raw.fileno())
        if problem:
            raise ArchiveError(f"the written archive failed its own CRC test: {problem}")
        os.chmod(temp, 0o644)
        os.replace(temp, target)
        committed = True
        _fsync_directory(target.parent)
        write_checksum(target, digest)
    except BaseException as exc:
        if temp is not None:
            temp.unlink(missing_ok=True)
        if committed:  # interrupted between the rename and the checksum: take the release back
            target.unlink(missing_ok=True)
            sidecar.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ArchiveError(f"cannot write {target}: {exc.strerror or exc}") from None
        raise
    return ArchiveResult(target, digest, target.stat().st_size, members)


@contextlib.contextmanager
def _signals_held():
    """Hold SIGINT/SIGTERM for a few instructions; they are delivered when the block ends."""
    import signal

    held = {signal.SIGINT, signal.SIGTERM}
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _add_member(archive: zipfile.ZipFile, item, date_time: tuple, progress) -> Member:
    """Stream one file into the archive with normalised metadata."""
    method = choose_method(item.path, item.size)
    info = zipfile.ZipInfo(item.name, date_time=date_time)
    info.create_system = 3
    info.external_attr = (stat.S_IFREG | (0o755 if item.executable else 0o644)) << 16
    info.compress_type = zipfile.ZIP_DEFLATED if method == "deflated" else zipfile.ZIP_STORED
    info.file_size = item.size
    with item.path.open("rb") as source, archive.open(info, "w", force_zip64=item.size >= ZIP64_FILE_BYTES) as member:
        if method == "deflated":
            _use_fast_deflate(member)
        while chunk := source.read(BUFFER_BYTES):
            member.write(chunk)
            if progress:
                progress(len(chunk))
    return Member(item.name, item.size, method)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(BUFFER_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _hash_and_test(path: Path, sync: Optional[int] = None) -> tuple:
    """The archive's sha256, its CRC re-test and its fsync, side by side (each releases the GIL)."""
    import threading

    digest, errors = [], []

    def in_background(work):
        def run():
            try:
                work()
            except BaseException as exc:  # re-raised in the calling thread below
                errors.append(exc)
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    threads = [in_background(lambda: digest.append(file_sha256(path)))]
    if sync is not None:
        threads.append(in_background(lambda: os.fsync(sync)))
    problem = test_archive(path)
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return digest[0], problem


def _fsync_directory(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def write_checksum(archive: Path, digest: str) -> Path:
    """The `sha256sum -c` sidecar, written atomically beside the archive."""
    sidecar = archive.with_name(archive.name + ".sha256")
    temp = sidecar.with_name(f".{sidecar.name}.partial")
    temp.write_bytes(f"{digest}  {archive.name}\n".encode())
    os.replace(temp, sidecar)
    return sidecar


def test_archive(path: Path) -> Optional[str]:
    """None when every member reads back with its CRC, else what failed."""
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                with archive.open(info) as member:
                    while member.read(BUFFER_BYTES):
                        pass
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        return str(exc)
    return None


# Verification -----------------------------------------------------------------------------------------

ARCHIVE_NAME = re.compile(r"(?P<name>[A-Za-z][A-Za-z0-9_]*)-(?P<version>[^/\\]+)\.zip")


class Verification:
    """What verify found in one archive."""

    def __init__(self, archive: Path):
        self.archive = archive
        self.problems: list = []
        self.provenance: Optional[dict] = None
        self.members = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        return {"archive": str(self.archive), "ok": self.ok, "members": self.members,
                "problems": self.problems, "provenance": self.provenance}


def unsafe_name_reason(name: str) -> Optional[str]:
    """Why a member name could write outside the extraction folder or clash there, or None."""
    if not name or "\0" in name:
        return "empty or NUL in the name"
    if "\\" in name:
        return "backslash in the name"
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return "absolute path"
    if ".." in PurePosixPath(name).parts:
        return "'..' in the path"
    return None


def verify_archive(path: Path) -> Verification:
    """Check an exported archive without extracting it outside a private temporary folder."""
    from .secret_scan import name_rule, scan_stream

    result = Verification(Path(path))
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        result.problems.append(f"not a complete zip archive: {exc}")
        return result
    with archive:
        infos = archive.infolist()
        result.members = len(infos)
        try:
            result.provenance = json.loads(archive.comment.decode()) if archive.comment else None
        except ValueError:
            result.problems.append("the zip comment is not the provenance JSON packflow_export writes")
        seen, folded = set(), {}
        for info in infos:
            reason = unsafe_name_reason(info.filename)
            if reason:
                result.problems.append(f"unsafe member name {info.filename!r}: {reason}")
            if info.filename in seen:
                result.problems.append(f"duplicate member {info.filename!r}")
            elif info.filename.lower() in folded:
                result.problems.append(f"members {folded[info.filename.lower()]!r} and {info.filename!r} differ only in case")
            seen.add(info.filename)
            folded.setdefault(info.filename.lower(), info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                result.problems.append(f"member {info.filename!r} is a symbolic link")
            rule = name_rule(info.filename)
            if rule:
                result.problems.append(f"member {info.filename!r} looks like a secret ({rule})")
            try:
                with archive.open(info) as member:
                    for found, line in scan_stream(member):
                        result.problems.append(f"member {info.filename!r} line {line}: looks like a secret ({found})")
                    while member.read(BUFFER_BYTES):
                        pass
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
                result.problems.append(f"member {info.filename!r} does not read back intact: {exc}")
        _verify_config(archive, seen, Path(path), result)
    _verify_checksum(Path(path), result)
    return result


def _verify_config(archive: zipfile.ZipFile, names: set, path: Path, result: Verification) -> None:
    """packflow.yaml at the root, valid, and naming the archive's file name."""
    from .checks import check_config
    from .config import CONFIG_NAME, load_policy, load_project_config

    if CONFIG_NAME not in names:
        result.problems.append(f"{CONFIG_NAME} is missing from the archive root")
        return
    with tempfile.TemporaryDirectory(prefix="packflow-verify-") as folder:
        (Path(folder) / CONFIG_NAME).write_bytes(archive.read(CONFIG_NAME))
        config = load_project_config(Path(folder))
    findings = config.findings or list(check_config(config, load_policy()))
    for item in findings:
        if item.severity == "error":
            result.problems.append(f"{CONFIG_NAME}: {item.message}")
    data = config.data if isinstance(config.data, dict) else {}
    name, version = data.get("name"), data.get("version")
    if isinstance(name, str) and isinstance(version, str) and path.name != archive_name(name, version):
        result.problems.append(f"file name {path.name!r} does not match packflow.yaml (expected {archive_name(name, version)!r})")


def _verify_checksum(path: Path, result: Verification) -> None:
    sidecar = path.with_name(path.name + ".sha256")
    if not sidecar.exists():
        return
    try:
        expected = sidecar.read_text(encoding="utf-8").split()[0].lower()
    except (OSError, UnicodeDecodeError, IndexError):
        result.problems.append(f"{sidecar.name} cannot be read as a sha256sum line")
        return
    actual = file_sha256(path)
    if actual != expected:
        result.problems.append(f"sha256 {actual} does not match {sidecar.name} ({expected})")
