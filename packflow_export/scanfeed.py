"""The content scan that feeds the archive writer: each selected file read once, for secrets (and, through
rules.contents.scan_file, whatever else is scanned per file) and for its CRC-32.

A file of one deflate block is read whole and its bytes kept for the writer, which packs exactly what was scanned;
a larger one is read again by the writer, which insists on the same file and the same bytes. On large projects
the scan runs on its own thread, a file or more ahead of the writer.
"""

from __future__ import annotations

import io
import threading
from typing import IO, Callable, Iterator, Optional, Sequence

from . import faults
from .archive import zipformat
from .archive.writer import Entry, SourceChanged
from .findings import Finding, Report
from .model.selection import SelectedFile
from .model.views import FileChanged, Unreadable, open_regular, read_regular
from .rules.contents import scan_file
from .rules.modelfiles import ScanSettings, using
from .secrets import RuleSet

ScanResult = tuple[Sequence[Finding], Optional[int]]  # a file's findings, and its CRC-32 when it was read whole

KEEP_FILE_BYTES = 1 << 20  # files up to one deflate block are read once, by the scan, and kept for the writer
KEPT_BYTES = 8 << 20  # at most this much kept at a time: the scan waits for the writer beyond it
THREAD_FROM_BYTES = 32 << 20  # files larger than a block, in all, from which the scan runs on its own thread


class Blocked(Exception):
    """The content scan found something that blocks the export: the writer stops and removes its temporary file."""


class Scanner:
    """The content scan of the selected files, in order, on its own thread; each file's CRC-32 comes with it."""

    def __init__(self, files: list[SelectedFile], allowed: frozenset[str], model_settings: ScanSettings,
                 rules: Optional[RuleSet] = None):
        from . import secrets

        self.files, self.allowed, self.model_settings = files, frozenset(allowed), model_settings
        self.finder = secrets.finder_for(sum(item.size for item in files), rules)
        self.codec = zipformat.codec()
        self.results: dict[int, ScanResult] = {}  # file index -> (findings, CRC-32 or None)
        self.kept: dict[int, bytes] = {}  # file index -> the content of a one-block file, handed to the writer
        self.findings: list[Finding] = []
        self.kept_bytes = 0
        self.ready = threading.Condition()
        self.stop = False
        self.thread: Optional[threading.Thread] = None
        self.error: Optional[BaseException] = None

    def scan(self, item: SelectedFile, index: Optional[int] = None) -> ScanResult:
        """(the file's findings, its CRC-32 or None when it could not be read whole). A one-block file is read in
        one piece and, with an index, kept for the writer, which then packs exactly the bytes that were scanned."""
        crcs: list[int] = []

        def whole() -> Iterator[bytes]:
            data = read_regular(item.path, item.identity, item.size + 1)
            if len(data) == item.size:
                crcs.append(self.codec.crc32(data))
                if index is not None:
                    self.keep(index, data)
            yield data

        def chunks() -> Iterator[memoryview]:
            crc, buffer = 0, bytearray(1 << 20)
            view = memoryview(buffer)
            with open_regular(item.path, item.identity) as stream:
                while not self.stop and (count := stream.readinto(buffer)):
                    crc = self.codec.crc32(view[:count], crc)
                    yield view[:count]  # the scan copies what it keeps: the buffer is read into again
            if not self.stop:
                crcs.append(crc)
        with using(self.model_settings):  # the model-file analysis in scan_file, with the run's allow-list
            found = scan_file(item.name, whole if item.size <= KEEP_FILE_BYTES else chunks, self.allowed,
                              self.finder, lambda: open_regular(item.path, item.identity))
        return found, (crcs[0] if crcs else None)

    def keep(self, index: int, data: bytes) -> None:
        with self.ready:
            while self.kept_bytes > KEPT_BYTES and not self.stop:  # the writer is behind: wait for it
                self.ready.wait()
            self.kept[index] = data
            self.kept_bytes += len(data)

    def _scan_inline(self, index: int) -> None:
        """Without the scan's own thread, the writer scans each file when it first needs it."""
        if self.thread is None and index not in self.results:
            self.results[index] = self.scan(self.files[index], index)

    def opener(self, index: int, item: SelectedFile) -> Callable[[], IO[bytes]]:
        """Open a file for the writer: the bytes the scan kept, else the file itself (the same one, or an error)."""
        def open_item() -> IO[bytes]:
            self._scan_inline(index)
            with self.ready:
                self._wait_for(index)  # else the writer reads the file again and the bytes kept later are never taken
                data = self.kept.pop(index, None)
                if data is not None:
                    self.kept_bytes -= len(data)
                    self.ready.notify_all()
            if data is not None:
                return io.BytesIO(data)
            faults.point("open", item.name)  # the scan has read the file; the writer opens it again
            return _opener(item)()
        return open_item

    def _wait_for(self, index: int) -> None:
        """Until the scan of file `index` is done (holding self.ready): its bytes, if kept, are kept by then."""
        while index not in self.results and self.error is None and not self.stop:
            self.ready.wait()
        if self.error is not None:
            raise self.error

    def run_all(self) -> list[Finding]:
        return [finding for item in self.files for finding in self.scan(item)[0]]

    def start(self) -> None:
        def work() -> None:
            try:
                for index, item in enumerate(self.files):
                    if self.stop:
                        break
                    faults.point("scan", item.name)
                    result = self.scan(item, index)
                    with self.ready:
                        self.results[index] = result
                        self.ready.notify_all()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the writer's thread
                with self.ready:
                    self.error = exc
                    self.ready.notify_all()

        self.thread = threading.Thread(target=work, name="packflow-export-scan", daemon=True)
        self.thread.start()

    def entries(self, report: Report) -> Iterator[Entry]:
        """The archive's entries; each one's CRC is the scan's, and asking for it waits for the scan of that file
        and stops the writer when the scan found something that blocks."""
        def crc_of(index: int) -> Callable[[], int]:
            def crc() -> int:
                self._scan_inline(index)
                with self.ready:
                    self._wait_for(index)
                    if index not in self.results:
                        raise Blocked()  # cancelled
                    found, value = self.results[index]
                    self.findings += found
                    self.results[index] = ((), value)  # the findings move to the report; keep memory flat
                if value is None or report.blocks(found):
                    raise Blocked()
                return value
            return crc
        return (Entry(item.name, item.size, crc_of(index), item.executable, self.opener(index, item))
                for index, item in enumerate(self.files))

    def finish(self) -> list[Finding]:
        """Every finding of the scan: the rest of the files are scanned too, so the report lists all of them."""
        if self.thread is not None:
            self.thread.join()
            if self.error is not None:
                raise self.error
        for index in range(len(self.files)):  # files the writer never reached: scan them now, for the report
            if self.thread is None and index not in self.results and not self.stop:
                self.results[index] = (self.scan(self.files[index])[0], None)
            self.findings += self.results.get(index, ((), None))[0]
            self.results[index] = ((), None)
        return self.findings

    def cancel(self) -> None:
        with self.ready:
            self.stop = True
            self.ready.notify_all()
        if self.thread is not None:
            self.thread.join()


def _opener(item: SelectedFile) -> Callable[[], IO[bytes]]:
    """Open a selected file for the writer: the same file the checks read, or SourceChanged."""
    def open_item() -> IO[bytes]:
        try:
            return open_regular(item.path, item.identity)
        except (FileChanged, Unreadable) as exc:
            raise SourceChanged(item.name, str(exc)) from None
    return open_item
