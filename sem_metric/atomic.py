"""Atomic file writes: every file sem-metric writes (results, CSV, the ground-truth cache) goes through
:func:`atomic_write`, so a reader never sees a half-written file and an interrupted run leaves none."""
from __future__ import annotations

import os
import tempfile
from typing import IO, Any, Callable, List, Sequence, Tuple

from .errors import InputError

__all__ = ["atomic_write", "atomic_write_all"]


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
    atomic_write_all([(path, write, binary)], what=what)


def atomic_write_all(items: Sequence[Tuple["str | os.PathLike[str]", Callable[[IO[Any]], None], bool]],
                     what: str = "") -> None:
    """:func:`atomic_write` for several files at once: all are written to temporary files first and
    renamed only when every one of them is complete, so an interruption leaves none of them."""
    temps: List[Tuple[str, str]] = []
    try:
        for path, write, binary in items:
            target = os.fspath(path)
            label = f"{what} {target!r}" if what else repr(target)
            directory = os.path.dirname(os.path.abspath(target))
            try:
                fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory)
                temps.append((tmp, target))
                os.chmod(tmp, 0o666 & ~_umask())
                with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")) as f:
                    write(f)
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as e:
                raise InputError(f"cannot write {label}: {e}") from None
        for tmp, target in temps:
            os.replace(tmp, target)
    except BaseException:
        for tmp, _ in temps:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise
