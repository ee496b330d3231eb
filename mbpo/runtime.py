"""Process-level setup shared by every entry point: seeds, device, threads."""

from __future__ import annotations

import random

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
