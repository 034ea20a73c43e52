"""Exceptions raised by sem-metric. Every message says what was wrong, where, and how to fix it."""
from __future__ import annotations

import sys
from importlib import metadata
from typing import Callable, Dict, List, Optional

#: exit status of a command that was refused (bad usage / bad input) or interrupted (Ctrl-C)
EXIT_BAD_INPUT, EXIT_INTERRUPTED = 2, 130


class SemMetricError(Exception):
    """Base class of all errors raised on purpose by sem-metric.

    ``cli_message`` (optional) is the same message phrased for the command line (``--color-map
    colors.json`` where the Python message says ``color_map={...}``); :meth:`for_cli` returns it.
    """

    def __init__(self, message: str = "", *, cli_message: Optional[str] = None):
        super().__init__(message)
        self.cli_message = cli_message

    def for_cli(self) -> str:
        """The message as a command prints it (the CLI phrasing when there is one)."""
        return self.cli_message or str(self)


class InputError(SemMetricError, ValueError):
    """Bad user input: a label map, a box, a boxes.json entry, a file pairing or an option."""


class WeightsError(SemMetricError):
    """Classifier weights could not be found, fetched, verified (sha256) or loaded strictly."""


class DeviceError(InputError, WeightsError):
    """A ``--device`` that does not exist here (no CUDA, no such GPU, an unknown name).

    Bad input first; also a :class:`WeightsError`, which loading the classifier raised for it before."""


#: the packages Sem's classifier imports (sem_metric.sem.classifier): a failure importing one is an
#: installation problem, reported by :func:`dependency_failure`
DEPENDENCIES = ("torch", "torchvision", "timm")


def _failed_dependency(exc: BaseException) -> Optional[str]:
    """The dependency whose import raised ``exc``: the innermost module-level frame of one in the traceback,
    else the missing module of a ModuleNotFoundError; None when ``exc`` did not come from importing one."""
    failed = None
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        top = str(frame.f_globals.get("__name__", "")).split(".")[0]
        if frame.f_code.co_name == "<module>" and top in DEPENDENCIES:
            failed = top
        tb = tb.tb_next
    if failed is None and isinstance(exc, ImportError) and str(exc.name or "").split(".")[0] in DEPENDENCIES:
        failed = str(exc.name).split(".")[0]
    return failed


def _fix_command(failed: str, versions: Dict[str, Optional[str]], missing: bool) -> str:
    torch_v = versions.get("torch") or ""
    parts = torch_v.split("+")[0].split(".")
    if failed == "torchvision" and versions.get("torch") and len(parts) >= 2 and parts[0] == "2" and parts[1].isdigit():
        # torchvision 0.(m + 15) is the release built for torch 2.m (0.15 <-> 2.0, ..., 0.29 <-> 2.14)
        return f'pip install "torchvision==0.{int(parts[1]) + 15}.*"   (the release built for torch {parts[0]}.{parts[1]})'
    if failed == "timm":
        return 'pip install --upgrade "timm>=0.9"'
    if missing or failed == "torch":
        return f"pip install --force-reinstall {failed}" if not missing else f"pip install {failed}"
    return "pip install --force-reinstall torch torchvision   (a matching pair)"


def dependency_failure(exc: BaseException) -> Optional[str]:
    """The one-line message (without ``error:``) for an exception raised while importing torch, torchvision
    or timm (Sec. 3.3: Sem's classifier needs them), e.g. a torchvision built for another torch: what failed,
    the versions installed (``importlib.metadata``) and the pip command that fixes it. None for any other
    exception (which the caller re-raises)."""
    failed = _failed_dependency(exc)
    if failed is None:
        return None

    versions: Dict[str, Optional[str]] = {}
    for name in DEPENDENCIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    missing = isinstance(exc, ModuleNotFoundError) and versions.get(failed) is None
    detail = (str(exc).strip().splitlines() or [""])[0][:200]
    found = ", ".join(f"{n} {v or 'not installed'}" for n, v in versions.items())
    what = f"{failed} is not installed" if missing else f"importing {failed} failed ({type(exc).__name__}: {detail})"
    return (f"{what}; installed: {found}; the Sem classifier needs torch, a torchvision built for that torch, "
            f"and timm; fix: {_fix_command(failed, versions, missing)}")


def run_command(main: Callable[[Optional[List[str]]], int], argv: Optional[List[str]] = None) -> int:
    """Run a ``python -m sem_metric...`` entry point with the package's error convention.

    A :class:`SemMetricError` becomes one ``error: ...`` line on stderr and exit status 2 (never a
    traceback), and so does a failure importing torch / torchvision / timm (:func:`dependency_failure`);
    Ctrl-C becomes exit status 130.
    """
    try:
        return main(argv)
    except SemMetricError as e:
        print(f"error: {e.for_cli()}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as e:  # noqa: BLE001 - only an import failure of a dependency is turned into a line
        message = dependency_failure(e)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
