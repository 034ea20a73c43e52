"""Atomic file writes: every file sem-metric writes (results, CSV, the ground-truth cache) goes through
:func:`atomic_write`, so a reader never sees a half-written file and an interrupted run leaves none."""
from __future__ import annotations

import os
import tempfile
from typing import IO, Any, Callable

from .errors import InputError

__all__ = ["atomic_write"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: "str | os.PathLike[str]", write: Callable[[IO[Any]], None], binary: bool = False,
                 what: str = "") -> None:
    """Write a file by calling ``write(f)`` on a temporary file in the same folder, then renaming it.

    The temporary file is removed on any exception (``KeyboardInterrupt`` included), so the target is
    either the complete new file or untouched. The file gets the permissions a plain ``open`` would
    give (0666 minus the umask). OS errors become :class:`InputError` naming ``what`` and the path.
    """
    target = os.fspath(path)
    label = f"{what} {target!r}" if what else repr(target)
    directory = os.path.dirname(os.path.abspath(target))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory)
    except OSError as e:
        raise InputError(f"cannot write {label}: {e}") from None
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise InputError(f"cannot write {label}: {e}") from None
        raise
