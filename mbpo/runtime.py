"""Process-level setup shared by every entry point: seeds, device, threads."""

from __future__ import annotations

import os
import random
import sys

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch's global generators (env RNGs are seeded where envs are made)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU is an error, not a silent fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch.cuda.is_available() is False")
    return torch.device(name)


def make_generator(device: torch.device, seed: int) -> torch.Generator:
    """A torch generator on ``device`` (sampling on the device must use a generator that lives there)."""
    return torch.Generator(device=device).manual_seed(seed)


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a SLURM allocation), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def free_cores() -> float:
    """Usable cores minus the 1-minute load average: roughly how many are idle right now (may be < 0)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = 0.0
    return usable_cores() - load


def configure_threads(requested: int | None) -> int:
    """Set torch's CPU threads for this process and return how many it got.

    The default is ONE thread, the only choice that cannot oversubscribe the machine however many runs
    share it: two processes with 2 threads each on 2 cores made a SAC update ~10x slower, while torch's
    own default takes every core in every process. A lone run on an idle machine may ask for more with
    ``--threads`` (the benchmark suite measures what that buys). Asking for more threads than the
    process's cores, or than the cores idle right now, prints a warning (and still does it).
    """
    threads = 1 if requested is None else int(requested)
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    usable, free = usable_cores(), free_cores()
    if threads > usable:
        print(
            f"warning: {threads} threads requested but this process may use only {usable} cores: "
            "the threads will oversubscribe them and run much slower",
            file=sys.stderr,
        )
    elif threads > 1 and threads > free + 0.5:
        print(
            f"warning: {threads} threads requested but only about {max(free, 0.0):.1f} of {usable} cores are "
            f"idle (1-minute load average {usable - free:.1f}): with other busy processes, threads fight for "
            "cores; one thread per process is safest",
            file=sys.stderr,
        )
    torch.set_num_threads(threads)
    return threads
