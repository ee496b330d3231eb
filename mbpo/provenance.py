"""``provenance.yaml``: what produced a run, beside the ``config.yaml`` that says how it was configured.

A reviewer asks which code (package versions, git commit and whether the tree had uncommitted changes),
which machine (CPU model, cores, torch threads, GPU), which command, and when. The file holds:

    command:  the argv, as a list
    started:  ISO-8601 UTC; finished: the same, null until the run ends
    git:      {commit, dirty, changed}: all null when the package is not run from a git checkout
    packages: {python, torch, gymnasium, mujoco, numpy, mbpo-bench}
    machine:  {hostname, platform, cpu, cores, threads, gpu (null without CUDA)}

A resumed run may add ``resumed`` (a list of {at_env_step, time}). Readers treat a missing file as
"provenance unknown" (runs older than this file), never as an error: see `read_provenance`.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from mbpo.atomic import write_atomic

FILENAME = "provenance.yaml"
PACKAGES = ("torch", "gymnasium", "mujoco", "numpy", "mbpo-bench")
PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the checkout (or site-packages) holding `mbpo/`


def now_utc() -> str:
    """The current time as ISO-8601 UTC, to the second (``2026-01-31T12:00:00+00:00``)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def package_versions() -> dict[str, str | None]:
    """Installed versions of Python and the packages that decide a run's numbers (None: not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(path: Path = PACKAGE_ROOT) -> dict[str, Any]:
    """``{commit, dirty, changed}`` of the git checkout holding ``path``; all None if it is not one.

    ``dirty`` counts changes to tracked files only: run outputs and other untracked files inside the
    checkout do not change what code ran. ``changed`` names those files, so that a reader can tell a
    status page rewritten beside the runs (``reports/cpu/STATUS.md``) from an edit to the code.
    """

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(path), *args], capture_output=True, text=True, check=True, timeout=30
        ).stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        changed = sorted(line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines())
    except (OSError, subprocess.SubprocessError):  # no git, or not a checkout (e.g. installed from a wheel)
        return {"commit": None, "dirty": None, "changed": None}
    return {"commit": commit, "dirty": bool(changed), "changed": changed}


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Processor", "cpu model") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """The host: name, OS, CPU model, logical cores, torch's CPU threads, and the CUDA GPU if any."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "gpu": gpu,
    }


def collect(command: list[str] | None = None) -> dict[str, Any]:
    """The provenance of a run starting now (``command`` defaults to this process's argv)."""
    return {
        "command": list(sys.argv if command is None else command),
        "started": now_utc(),
        "finished": None,
        "git": git_state(),
        "packages": package_versions(),
        "machine": machine(),
    }


def write_provenance(run_dir: str | Path, command: list[str] | None = None) -> dict[str, Any]:
    """Write ``run_dir/provenance.yaml`` for a run starting now; returns what it wrote."""
    record = collect(command)
    _dump(Path(run_dir), record)
    return record


def mark_finished(run_dir: str | Path) -> dict[str, Any] | None:
    """Set ``finished`` to now in ``run_dir/provenance.yaml``; returns the record (None if there is none)."""
    record = read_provenance(run_dir)
    if record is None:
        return None
    record["finished"] = now_utc()
    _dump(Path(run_dir), record)
    return record


def mark_resumed(run_dir: str | Path, at_env_step: int, warnings: Sequence[str] = ()) -> dict[str, Any]:
    """Append ``{at_env_step, time, command, git, machine}`` to ``resumed`` in ``run_dir/provenance.yaml``,
    and ``warnings`` if restoring the state gave any (e.g. a resume that is not bit-identical).

    The resuming session may run other code or another machine, so it records its own. A file lost since
    the run began is rewritten from what this session knows (its ``started`` is then the resume time).
    """
    record = read_provenance(run_dir) or collect()
    now = collect()
    entry = {"at_env_step": at_env_step, "time": now["started"]} | {k: now[k] for k in ("command", "git", "machine")}
    record.setdefault("resumed", []).append(entry | ({"warnings": list(warnings)} if warnings else {}))
    _dump(Path(run_dir), record)
    return record


def read_provenance(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's provenance, or None for a run without the file (provenance unknown, not an error)."""
    path = Path(run_dir) / FILENAME
    if not path.is_file():
        return None
    return yaml.safe_load(path.read_text())


def _dump(run_dir: Path, record: dict[str, Any]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(record, sort_keys=False)
    write_atomic(run_dir / FILENAME, lambda f: f.write(text), binary=False)  # a reader never sees half a file
