"""Writing files without ever losing the previous version, and telling paths apart.

``atomic_write(path, write)`` lets ``write`` fill a temporary file in the target's own
folder, flushes and fsyncs it, and only then renames it over ``path`` (``os.replace``, atomic
on POSIX and Windows). A failure or an interrupt at any point before the rename leaves
``path`` exactly as it was and removes the temporary file.

SIGINT and SIGTERM arriving while the temporary file is written are held back (in the main
thread) and delivered once it is removed again, so an interrupt cannot tear a half-closed
zip or CSV writer apart mid-way (that produced secondary tracebacks); they still cancel the
write: a held-back signal means the file is not renamed into place.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

_HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _hold_signals():
    """Record SIGINT/SIGTERM instead of acting on them; yields the list of those received."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {}
    try:
        for sig in _HELD_SIGNALS:
            previous[sig] = signal.signal(sig, lambda signum, frame: received.append(signum))
    except (ValueError, OSError):  # not allowed here (embedded interpreter, ...)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        yield received
        return
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _file_mode() -> int:
    """The mode a plain ``open(path, 'w')`` would give a new file (0666 less the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows, or a folder we may not open: the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path, write: Callable, *, binary: bool = True) -> Path:
    """Write ``path`` through ``write(file_object)`` so that it is either complete or untouched.

    Parameters
    ----------
    path : str or path-like
        The file to create or replace. An existing file keeps its permissions.
    write : callable(file object)
        Writes the whole content to the open temporary file.
    binary : bool, default=True
        Open the temporary file in binary mode (``False``: text, UTF-8, ``newline=''``).

    Returns
    -------
    pathlib.Path of the written file.

    Raises
    ------
    KeyboardInterrupt if SIGINT/SIGTERM arrived during the write (re-delivered to the
    previous handler, which for SIGINT raises it); any error of ``write`` or of the disk.
    In every case ``path`` is left as it was.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        mode = os.stat(path).st_mode & 0o7777
    except OSError:
        mode = _file_mode()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    done = False
    with _hold_signals() as received:
        try:
            f = os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")
            with f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
            if not received:
                os.replace(tmp, path)
                done = True
        finally:
            if not done:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
    if received:
        # Deliver the first held signal now that nothing is half-written: SIGINT's default
        # handler raises KeyboardInterrupt, the CLI's SIGTERM handler does the same.
        signal.raise_signal(received[0])
        raise KeyboardInterrupt  # a handler that returned: the write is still cancelled
    _fsync_dir(folder)
    return path


def same_file(a, b) -> bool:
    """True if paths ``a`` and ``b`` name the same file: equal after resolving symbolic
    links, or one inode (a hard link). A path that does not exist yet matches only by name."""
    a, b = Path(a), Path(b)
    try:
        if os.path.samefile(a, b):
            return True
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def clashing_input(out, inputs: Iterable) -> object | None:
    """The first of ``inputs`` (paths, None skipped) that ``out`` would overwrite, or None."""
    for p in inputs:
        if p is not None and same_file(out, p):
            return p
    return None
