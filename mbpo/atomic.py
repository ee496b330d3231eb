"""Atomic file writes: a reader, or a run killed mid-write, sees the old file or the new one, never half.

The content goes to a temporary file beside the target, is flushed and fsynced, and only then renamed over
it; the directory is fsynced after the rename. Kept free of torch and MuJoCo, so that the analysis commands
(which write every table and CSV this way) start quickly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def temporary_path(path: Path) -> Path:
    """Where ``path`` is written before the rename (same directory, so the rename is atomic)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def remove_stale_temporaries(path: Path) -> None:
    """Delete temporary files of ``path`` left by a process killed mid-write."""
    for stale in path.parent.glob(f".{path.name}.tmp-*"):
        stale.unlink(missing_ok=True)


def fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, write: Any, binary: bool = True) -> None:
    """Create or replace ``path`` atomically: ``write(file)`` fills a temporary file, then it is renamed."""
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb" if binary else "w", **({} if binary else {"newline": ""})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)
