"""``sem-score --processes N``: start N worker processes with torch's own launcher and keep sem-score's exit codes.

The workers are ``python -m sem_metric.cli`` with the same arguments, started by
``torch.distributed.launcher.api.elastic_launch`` (the launcher behind ``torchrun``) on this machine
only; each sees torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_*``) and runs
the sharded evaluation of :mod:`sem_metric.distributed` (gloo on CPU, NCCL with ``--device cuda``).
Rank 0 prints and writes as one process would; every rank exits with rank 0's code. This module turns
the launcher's outcome back into that code (0 ok, 1 a check failed, 2 bad input, 130 interrupted), with
the launcher's own logging and tracebacks silenced, so that a CI job sees what a single process would
show: one ``error:`` line and the documented exit status.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from contextlib import contextmanager
from typing import Iterator, List, Mapping, Optional, Sequence

from .atomic import atomic_write
from .errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED

__all__ = ["launch_workers", "worker_threads", "code_from_failures", "record_exit_code", "EXIT_CODE_FILE_ENV"]

_LAUNCHER_LOGGERS = ("torch.distributed.elastic", "torch.distributed.launcher", "torch.distributed.run")


def worker_threads(processes: int, threads: Optional[int] = None) -> int:
    """CPU threads per worker: ``--threads`` when given, else the cores shared evenly (at least 1)."""
    if threads is not None:
        return int(threads)
    return max(1, (os.cpu_count() or 1) // max(1, int(processes)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _quiet_launcher() -> Iterator[None]:
    """Silence the launcher's log records (start banners, failure summaries) for the duration."""
    names = [n for n in list(logging.root.manager.loggerDict)
             if any(n == p or n.startswith(p + ".") for p in _LAUNCHER_LOGGERS)]
    saved = [(logging.getLogger(n), logging.getLogger(n).level) for n in set(names) | set(_LAUNCHER_LOGGERS)]
    for logger, _ in saved:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)


def _exit_code(raw: Optional[int]) -> int:
    """A worker's exit code as sem-score's: negative (killed by a signal) -> 130 for SIGINT/SIGTERM, else 2."""
    if raw is None:
        return 0
    raw = int(raw)
    if raw >= 0:
        return raw
    return EXIT_INTERRUPTED if -raw in (signal.SIGINT, signal.SIGTERM) else EXIT_BAD_INPUT


def code_from_failures(exitcodes: Mapping[int, Optional[int]]) -> int:
    """sem-score's exit code from the failed workers' raw exit codes (rank -> code; negative = signal).

    Every rank exits with rank 0's code (:meth:`sem_metric.distributed.Distributed.finish`); once one has
    exited, the launcher may terminate the others (SIGTERM) while they tear down, so a real exit code
    (the lowest rank's) wins over a signal; only when every worker was killed does the signal decide.
    """
    ranked = sorted(exitcodes.items())
    exited = [c for _, c in ranked if c is not None and int(c) >= 0]
    return _exit_code(exited[0] if exited else ranked[0][1])


#: environment variable naming the file where rank 0 records its exit code before the process group is torn down
EXIT_CODE_FILE_ENV = "SEM_SCORE_EXIT_CODE_FILE"


def record_exit_code(code: int) -> None:
    """Rank 0 of ``--processes`` workers: write sem-score's exit code for the launching process.

    Written before the process group is torn down, so that a worker crashing in teardown (seen under
    load: gloo's threads aborting at exit) cannot turn a finished run into a failure. No-op outside
    ``--processes``.
    """
    path = os.environ.get(EXIT_CODE_FILE_ENV)
    if path:
        atomic_write(path, lambda f: f.write(str(int(code))), what="exit code")


def _recorded_exit_code(path: str) -> Optional[int]:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def launch_workers(argv: Sequence[str], processes: int, threads: Optional[int] = None) -> int:
    """Run ``sem-score argv`` in ``processes`` local workers (paper Sec. 4.1 metrics, Eq. 10 Sem, sharded).

    Returns rank 0's exit code (every rank agrees on it, :meth:`sem_metric.distributed.Distributed.finish`).
    ``threads``: CPU threads per worker (default: the cores divided among the workers), passed as
    ``OMP_NUM_THREADS``.
    """
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs, Std
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    env_threads = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(worker_threads(processes, threads))
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=int(processes), run_id="sem-score",
                          rdzv_backend="c10d", rdzv_endpoint=f"127.0.0.1:{_free_port()}", max_restarts=0,
                          monitor_interval=0.1, logs_specs=DefaultLogsSpecs(redirects=Std.NONE, tee=Std.NONE),
                          local_addr="127.0.0.1")
    args: List[str] = ["-m", "sem_metric.cli", *argv]
    exit_dir = tempfile.mkdtemp(prefix="sem-score-exit-")
    exit_file = os.path.join(exit_dir, "code")
    os.environ[EXIT_CODE_FILE_ENV] = exit_file
    try:
        with _quiet_launcher():
            elastic_launch(config, sys.executable)(*args)
        recorded = _recorded_exit_code(exit_file)
        return 0 if recorded is None else recorded
    except ChildFailedError as e:
        recorded = _recorded_exit_code(exit_file)   # rank 0 finished: its code, whatever teardown did
        if recorded is not None:
            return recorded
        return code_from_failures({rank: f.exitcode for rank, f in e.failures.items()})
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as e:  # noqa: BLE001 - the launcher's own failures (rendezvous, signals)
        if type(e).__name__ == "SignalException":
            return EXIT_INTERRUPTED
        print(f"error: --processes {processes}: the worker processes could not be started "
              f"({type(e).__name__}: {e}); run without --processes, or with torchrun", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        os.environ.pop(EXIT_CODE_FILE_ENV, None)
        shutil.rmtree(exit_dir, ignore_errors=True)
        if env_threads is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = env_threads
