"""What the numbers were measured on: CPU, cores, load, library versions, GPU, git commit."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import torch

from mbpo.runtime import usable_cores

ROOT = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    """``uptime``-style 1/5/15-minute load averages (what else was running while we measured)."""
    try:
        return "{:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())
    except (AttributeError, OSError):
        return "unknown"


def gpu_name() -> str | None:
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def git_commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + (" (dirty)" if git("status", "--porcelain", "--untracked-files=no") else "")


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe(threads: int) -> dict[str, object]:
    return {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cores": usable_cores(),
        "threads": threads,
        "gpu": gpu_name(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gymnasium": version("gymnasium"),
        "mujoco": version("mujoco"),
        "git": git_commit(),
        "load_before": load_average(),
    }
