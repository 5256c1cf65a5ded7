"""What the CLI prints besides its answer: one verbosity for every command, warnings once.

``-q`` keeps only the answer (and errors and warnings); ``-v`` adds what rigbench is doing
(debug logs, every progress event). Every command takes both, with this one meaning. Log
records of rigbench and of the libraries it drives (onnxruntime's quantizer, grpc ...) are
printed as ``warning: ...``, like errors, and each distinct message only once per command.
"""

from __future__ import annotations

import enum
import logging
import sys
import threading
import warnings
from typing import Any


class Verbosity(enum.IntEnum):
    quiet = 0
    normal = 1
    verbose = 2


_level = Verbosity.normal


def level() -> Verbosity:
    return _level


def quiet() -> bool:
    return _level is Verbosity.quiet


def verbose() -> bool:
    return _level is Verbosity.verbose


class _OncePerMessage(logging.Filter):
    """Let each distinct message through once: a retried step must not repeat its warning."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[tuple[int, str]] = set()
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.levelno, record.getMessage())
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
        return True


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now (a live progress display redirects it)."""

    @property  # type: ignore[override]
    def stream(self):  # type: ignore[no-untyped-def]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # type: ignore[no-untyped-def]
        pass


class _Format(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if record.levelno >= logging.ERROR:
            return f"error: {msg}"
        if record.levelno >= logging.WARNING:
            return f"warning: {msg}"
        return f"{record.name}: {msg}" if verbose() else msg


_handler: logging.Handler | None = None


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kw: Any) -> None:
    """Python warnings (a library's DeprecationWarning ...) as one line like the rest."""
    logging.getLogger("py.warnings").warning("%s: %s", category.__name__, message)


def configure(quiet_: bool = False, verbose_: bool = False) -> None:
    """Set the verbosity and route log records (ours and the libraries') through one handler."""
    global _level, _handler
    _level = Verbosity.verbose if verbose_ else Verbosity.quiet if quiet_ else Verbosity.normal
    root = logging.getLogger()
    if _handler is None:
        _handler = _StderrHandler()
        _handler.setFormatter(_Format())
        _handler.addFilter(_OncePerMessage())
        # Replace what a library may have installed with logging.basicConfig (which prints
        # raw "WARNING:logger:message" lines), so each warning prints once, in our form.
        for h in list(root.handlers):
            root.removeHandler(h)
        root.addHandler(_handler)
        warnings.showwarning = _show_warning
    root.setLevel(logging.INFO if verbose() else logging.WARNING)
    # A library's own logger level must not hide its warnings, nor flood at -v.
    logging.getLogger("rigbench").setLevel(logging.DEBUG if verbose() else logging.WARNING)
