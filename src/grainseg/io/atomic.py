"""Atomic output: write to a temporary file in the target folder, then rename.

A run that is killed, or a disk that fills up, never leaves a half-written output behind.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from grainseg.errors import GrainsegError

# Write failures that come from the disk or the target, not from grainseg: reported in one line.
USER_ERRNOS = {
    errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EFBIG, errno.EIO,
    errno.EISDIR, errno.ENOTDIR, errno.ENAMETOOLONG,
}


def check_output_dir(path: str | os.PathLike) -> Path:
    """The checks of `ensure_output_dir` without creating anything, for a command that works a
    while before it writes; every command words them alike.

    Raises
    ------
    GrainsegError
        ``"DIR: exists and is not a folder; choose another --out"``, ``"DIR: output folder is not
        writable"``, or ``"DIR: cannot create output folder (REASON)"`` (the reason ``mkdir``
        would give: a file on the way is "Not a directory", a folder not writable "Permission
        denied").
    """
    out = Path(path)
    if out.exists():
        if not out.is_dir():
            raise GrainsegError(f"{out}: exists and is not a folder; choose another --out")
        if not os.access(out, os.W_OK | os.X_OK):
            raise GrainsegError(f"{out}: output folder is not writable")
        return out
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    reason = None
    if not parent.is_dir():
        reason = os.strerror(errno.ENOTDIR)
    elif not os.access(parent, os.W_OK | os.X_OK):
        reason = os.strerror(errno.EACCES)
    if reason is not None:
        raise GrainsegError(f"{out}: cannot create output folder ({reason})")
    return out


def ensure_output_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (and parents) if needed and check that it is writable.

    Raises
    ------
    GrainsegError
        If the folder cannot be created or written to (messages of `check_output_dir`).
    """
    out = check_output_dir(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GrainsegError(f"{out}: cannot create output folder ({exc.strerror})") from None
    if not out.is_dir():  # made a file meanwhile
        raise GrainsegError(f"{out}: exists and is not a folder; choose another --out")
    if not os.access(out, os.W_OK | os.X_OK):
        raise GrainsegError(f"{out}: output folder is not writable")
    return out


@contextlib.contextmanager
def write_errors_reported(target: str | os.PathLike) -> Iterator[None]:
    """Turn a disk or permission error inside the block into one line naming ``target``.

    ``GrainsegError("{target}: cannot write (No space left on device)")`` for the errors of
    ``USER_ERRNOS``; any other OSError is a bug and keeps its traceback.
    """
    try:
        yield
    except OSError as exc:
        if exc.errno in USER_ERRNOS:
            raise GrainsegError(f"{os.fspath(target)}: cannot write ({exc.strerror})") from None
        raise


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it to ``final`` if the block succeeds.

    The temporary file keeps the suffix of ``final`` so that writers choosing a format by
    extension still work. On any exception the temporary file is removed.
    """
    final = Path(final)
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{final.stem}.", suffix=final.suffix + ".part", dir=final.parent
        )
    except OSError as exc:
        raise GrainsegError(f"{final}: cannot write ({exc.strerror})") from None
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates 0600; give the output the permissions a plain open() would have.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        with write_errors_reported(final):
            yield tmp
            os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``final``; put it in place of ``final`` if the
    block succeeds (a store of many files, such as zarr). An existing ``final`` is moved aside
    first and deleted after the new one is in place; on any exception the temporary folder is
    deleted.
    """
    final = Path(final)
    with write_errors_reported(final):
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent))
    try:
        with write_errors_reported(final):
            yield tmp
            old = None
            if final.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old.part",
                                            dir=final.parent))
                os.replace(final, old / final.name)
            os.replace(tmp, final)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike, obj: object) -> None:
    """Write ``obj`` as indented JSON atomically; NumPy scalars and arrays are converted."""

    def default(value: object) -> object:
        if hasattr(value, "tolist"):
            return value.tolist()
        if isinstance(value, Path):
            return str(value)
        raise TypeError(f"not JSON serialisable: {type(value).__name__}")

    write_text_atomic(path, json.dumps(obj, indent=2, default=default, ensure_ascii=False) + "\n")
