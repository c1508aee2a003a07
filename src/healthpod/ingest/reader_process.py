"""Parsing in a second process, so a large file is parsed and written at the same time.

The parent keeps the database transaction; the child only reads the file and sends batches of
items through a pipe. If the parent dies (even by SIGKILL) the child's next send fails and it
exits; if the child dies, the parent sees the pipe close and rolls back. Either way nothing
half-imported remains.
"""

from __future__ import annotations

import gc
import importlib
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import traceback
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from healthpod.errors import HealthpodError, IngestError, MalformedFile

if TYPE_CHECKING:
    from healthpod.ingest.base import ErrorHandling, Item

# The parent imports this module before its own heavy imports (see `prestart`), so what only
# the child needs (numpy, lxml) is imported inside the child's functions.

# Messages waiting in the parent, still pickled (a batch of 10,000 records is about 1 MB
# so, several MB once unpickled): enough to keep the reader going while the writer
# spends a second on a type's daily summaries, without holding the batches as objects.
INBOX_MESSAGES = 24
# Each message is framed: its pickle's length (8 bytes), 1 if it is the last, the pickle.
FRAME_HEADER = 9
LAST_KINDS = ("done", "error", "crash")
SEND_EVERY = 500  # small items per message; a SampleBatch is sent on its own
PROGRESS_STEP = 4 * 1024 * 1024
# Files that parse this many bytes or more (`parsed_bytes`) are parsed here, by formats that
# can (`Importer.parallel`).
PARALLEL_MIN_BYTES = 16 * 1024 * 1024
READER_GC_THRESHOLDS = (100_000, 20, 20)  # gc.set_threshold's, in the reader process


# What opening a zip's directory raises on a file that is not one, or a damaged one; the
# guesses made from the directory then fall back (the import itself reports the file).
UNREADABLE_ZIP = (OSError, EOFError, ValueError, zipfile.BadZipFile, struct.error)


def parsed_bytes(path: Path) -> int:
    """How many bytes parsing `path` takes in: a zip's members as they inflate (as its
    directory says), else the file's size. It decides whether a reader process pays."""
    size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as zf:
            return max(size, sum(info.file_size for info in zf.infolist()))
    except UNREADABLE_ZIP:
        return size


@dataclass(frozen=True)
class ReaderSpec:
    """How a child process finds the importer and reopens the file."""

    module: str  # the importer's module; the importer is its IMPORTER
    path: str
    member: str | None  # a member of the zip at `path`, or None for the file itself
    filename: str
    errors: ErrorHandling


def _open(spec: ReaderSpec, on_progress: Callable[[int], None]) -> Any:
    from healthpod.ingest import safe_files

    raw = Path(spec.path).open("rb")  # noqa: SIM115 - closed with the member or tracker
    if spec.member is None:
        return safe_files.TrackedFile(raw, on_progress)
    zf = safe_files.open_zip(Path(spec.path).name, raw)
    return safe_files.open_member(Path(spec.path).name, zf, spec.member)


def _produce(spec: ReaderSpec, out: BinaryIO) -> None:
    """Child process: read the file, send ("items", [...]), ("progress", n), then ("done",)."""
    from healthpod.ingest.base import SampleBatch

    def send(message: tuple[Any, ...]) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        last = message[0] in LAST_KINDS
        out.write(len(data).to_bytes(8, "little") + (b"\x01" if last else b"\x00"))
        out.write(data)
        out.flush()

    try:
        importer = importlib.import_module(spec.module).IMPORTER
        reported = [0]

        def progress(done: int) -> None:
            if done - reported[0] >= PROGRESS_STEP:
                reported[0] = done
                send(("progress", done))

        opened = _open(spec, progress)
        with opened as fp:
            pending: list[Item] = []
            for item in importer.read(
                cast(BinaryIO, fp), filename=spec.filename, on_progress=None, errors=spec.errors
            ):
                if isinstance(item, SampleBatch):
                    if pending:
                        send(("items", pending))
                        pending = []
                    send(("items", [item]))
                else:
                    pending.append(item)
                    if len(pending) >= SEND_EVERY:
                        send(("items", pending))
                        pending = []
            if pending:
                send(("items", pending))
        send(("done",))
    except (BrokenPipeError, ConnectionResetError):
        return  # the parent is gone: nothing to report to
    except HealthpodError as exc:
        send(("error", _portable(exc)))
    except BaseException:
        send(("crash", traceback.format_exc()))


def _portable(exc: HealthpodError) -> dict[str, Any]:
    return {
        "class": type(exc).__name__,
        "message": exc.message,
        "hint": exc.hint,
        "source": getattr(exc, "source", None),
        "location": getattr(exc, "location", None),
    }


def _rebuild(data: dict[str, Any]) -> HealthpodError:
    from healthpod import errors

    cls = getattr(errors, data["class"], IngestError)
    exc: HealthpodError = cls.__new__(cls)
    HealthpodError.__init__(exc, data["message"], hint=data["hint"])
    if isinstance(exc, MalformedFile):
        exc.source, exc.location = data["source"], data["location"]
    return exc


class _Child:
    """A reader process, and once it has its spec, the thread taking its messages."""

    def __init__(self) -> None:
        self.process = _spawn()
        self.spec: ReaderSpec | None = None
        self.inbox: queue.Queue[bytes | None] = queue.Queue(maxsize=INBOX_MESSAGES)
        self._stop = threading.Event()
        self._receiver: threading.Thread | None = None

    def start_reading(self, spec: ReaderSpec) -> None:
        """Give the child its spec; from now on its messages collect in `inbox`."""
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        self.spec = spec
        # A thread takes the child's messages off the pipe while this thread writes to the
        # database (SQLite lets go of the GIL while it works); otherwise the child would wait
        # on a full pipe for every batch and the two processes would take turns.
        self._receiver = threading.Thread(
            target=_receive, args=(stdout, self.inbox, self._stop), daemon=True
        )
        pickle.dump(spec, stdin)
        stdin.close()
        self._receiver.start()

    def end(self) -> None:
        self._stop.set()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if self._receiver is not None and self._receiver.is_alive():
            self._receiver.join(timeout=10)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


_spare: _Child | None = None


def prestart(spec: ReaderSpec | None = None) -> None:
    """Start a reader process now, for an import that may need one soon.

    Its start-up (Python, numpy, lxml: a tenth of a second and more) then runs while this
    process is still importing and opening the store; the next `child_items` takes it.
    With `spec` (the reader an import of a large file will most likely want, see
    `head_start`), it starts reading at once; `child_items` for another spec
    ends it unused. `discard_spare` ends it if no import took it.
    """
    global _spare
    if _spare is None:
        _spare = _Child()
    if spec is not None and _spare.spec is None and _spare.process.poll() is None:
        _spare.start_reading(spec)


def discard_spare() -> None:
    """End a prestarted reader process that no import took."""
    global _spare
    child, _spare = _spare, None
    if child is not None:
        child.end()


def _spawn() -> subprocess.Popen[bytes]:
    package_root = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "healthpod.ingest.reader_process"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )


def _reading(spec: ReaderSpec) -> _Child:
    """A child reading `spec`: the prestarted one if it reads it or waits, else a new one."""
    global _spare
    child, _spare = _spare, None
    if child is not None:
        if child.spec == spec:
            return child
        if child.spec is None and child.process.poll() is None:
            child.start_reading(spec)
            return child
        child.end()
    child = _Child()
    child.start_reading(spec)
    return child


def items_from_child(spec: ReaderSpec, on_progress: Callable[[int], None] | None) -> Iterator[Item]:
    """Run the importer in a child process and yield its items here (see `child_items`)."""
    with child_items(spec, on_progress) as items:
        yield from items


@contextmanager
def child_items(
    spec: ReaderSpec, on_progress: Callable[[int], None] | None
) -> Iterator[Iterator[Item]]:
    """Start the importer in a child process now; the iterator gives its items here.

    The child is a fresh `python -m healthpod.ingest.reader_process` (not a fork: no copy of
    our engine, threads or the CLI's imports), talking pickle over its stdin and stdout; a
    prestarted one if there is (already reading, if it was given this spec). It is ended
    when the block is left.

    Raises (from the iterator):
        HealthpodError: whatever the importer raised in the child (MalformedFile, …).
        IngestError: the child died without saying why.
    """
    child = _reading(spec)
    try:
        yield _messages(spec, child.inbox, on_progress)
    finally:
        child.end()


def _messages(
    spec: ReaderSpec, inbox: queue.Queue[bytes | None], on_progress: Callable[[int], None] | None
) -> Iterator[Item]:
    while True:
        frame = inbox.get()
        message = None if frame is None else pickle.loads(frame)  # noqa: S301 - our child
        if message is None:
            raise IngestError(
                f"{spec.filename}: the process reading the file stopped unexpectedly; "
                "nothing was stored.",
                hint="Import the file again; if it keeps failing, report it with its size.",
            )
        kind = message[0]
        if kind == "items":
            yield from message[1]
        elif kind == "progress":
            if on_progress is not None:
                on_progress(message[1])
        elif kind == "done":
            return
        elif kind == "error":
            raise _rebuild(message[1])
        else:
            raise RuntimeError(
                f"reading {spec.filename} failed in the reader process:\n{message[1]}"
            )


def _receive(stream: BinaryIO, inbox: queue.Queue[bytes | None], stop: threading.Event) -> None:
    """Receiver thread: the child's messages, still pickled, into `inbox`; None if it broke."""
    while not stop.is_set():
        frame, last = _read_frame(stream)
        while not stop.is_set():
            try:
                inbox.put(frame, timeout=0.2)
                break
            except queue.Full:
                continue
        if frame is None or last:
            return


def _read_frame(stream: BinaryIO) -> tuple[bytes | None, bool]:
    """One message as pickled bytes and whether it is the last; None if the pipe broke."""
    try:
        header = stream.read(FRAME_HEADER)
        if len(header) < FRAME_HEADER:
            return None, True
        size = int.from_bytes(header[:8], "little")
        frame = stream.read(size)
    except (OSError, ValueError):
        return None, True
    return (frame, header[8] == 1) if len(frame) == size else (None, True)


def main() -> None:
    """Entry of the child process: the spec on stdin, messages on stdout."""
    # What every reader needs, imported while a prestarted child waits for its spec.
    from healthpod.ingest import base, safe_files  # noqa: F401

    try:
        spec = pickle.load(sys.stdin.buffer)  # noqa: S301 - written by our own parent
    except EOFError:
        return  # a prestarted reader no import took
    # The reader makes millions of short-lived tuples and lists, all freed by reference
    # counting; the cycle collector, run every 700 of them, found nothing and cost 7% of a
    # large export's reading. It runs rarely instead, over what the reader made (not the
    # modules it loaded).
    gc.freeze()
    gc.set_threshold(*READER_GC_THRESHOLDS)
    _produce(spec, sys.stdout.buffer)


if __name__ == "__main__":
    main()
