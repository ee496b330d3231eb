"""What to do with a run directory before training: start fresh, resume its checkpoint, or nothing at all.

Everything is checked here, before a single file is written: a directory that belongs to another run, a
checkpoint that is damaged or was written with another config, a config.yaml that cannot be read. A
refused run leaves the directory exactly as it was.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mbpo.atomic import remove_stale_temporaries
from mbpo.checkpoint import CHECKPOINT_NAME, Checkpoint, load_checkpoint
from mbpo.config import Config, ConfigError, load_yaml, resolve
from mbpo.errors import UserError
from mbpo.provenance import FILENAME as PROVENANCE
from mbpo.runlog import write_outputs

IDENTITY = ("env", "algo", "variant", "seed")
# Keys that never change the numbers, so a resumed run may set them differently.
MAY_CHANGE_ON_RESUME = frozenset({"checkpoint_every", "keep_checkpoint", "wandb_mode", "wandb_project", "device"})


class RunDirError(UserError, ValueError):
    """A run directory that this run must not use as it is; the message says why and what to do."""


@dataclass(frozen=True)
class RunDirPlan:
    """The decision for one ``mbpo train`` call."""

    checkpoint: Checkpoint | None = None  # resume from this (or, if finished, the final state kept)
    finished: bool = False  # the run is complete: nothing to train


def identity(config: dict[str, Any]) -> str:
    return "/".join(str(config.get(key)) for key in IDENTITY[:3]) + f"/seed{config.get('seed')}"


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"sac": {"lr": 1}}`` → ``{"sac.lr": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat |= flatten(value, prefix=f"{prefix}{key}.")
        else:
            flat[prefix + key] = value
    return flat


def config_differences(saved: dict[str, Any], current: dict[str, Any], device_type: str) -> list[str]:
    """``"key: saved → current"`` for every key (dotted) whose value differs, except those a resume may
    change.

    The saved config is first resolved by this code (on ``device_type``, as ``current`` was), so a key
    added to the package since the run began takes its default (which, by the golden-run tests, reproduces
    what the run did before the key existed): a run survives an upgrade unless a value it ran with would
    now differ. A key that this code no longer knows counts as a difference.
    """
    with contextlib.suppress(ConfigError):  # e.g. a removed key: the comparison below names it
        saved = resolve(saved).on_device(device_type).to_dict()
    old, new = flatten(saved), flatten(current)
    missing = "(absent)"
    return [
        f"{key}: {old.get(key, missing)!r} → {new.get(key, missing)!r}"
        for key in sorted(old.keys() | new.keys())
        if key not in MAY_CHANGE_ON_RESUME and old.get(key, missing) != new.get(key, missing)
    ]


def _read_config_yaml(path: Path) -> dict[str, Any] | None:
    """A run directory's config.yaml (None where there is none yet)."""
    if not path.exists():
        return None
    try:
        config = load_yaml(path)
    except ConfigError as err:
        raise RunDirError(f"{err}; fix or delete it, or choose another --out") from None
    if not config:
        raise RunDirError(f"{path}: empty; fix or delete it, or choose another --out")
    return config


def _last_env_step(metrics: Path) -> int | None:
    """The env step of the last complete row of ``metrics.csv`` (None if unreadable or without rows)."""
    try:
        text = metrics.read_text()
        if not text.endswith("\n"):
            return None
        rows = list(csv.DictReader(io.StringIO(text)))
        return int(rows[-1]["env_step"]) if rows else None
    except (OSError, UnicodeDecodeError, csv.Error, KeyError, ValueError, TypeError):
        return None


def _check_identity(found: dict[str, Any], where: Path, cfg: Config) -> None:
    wanted = cfg.to_dict()
    if any(str(found.get(key)) != str(wanted[key]) for key in IDENTITY):
        raise RunDirError(
            f"{where}: the directory holds run {identity(found)}, not {identity(wanted)}; "
            "choose another --out (or delete the directory)"
        )


def _check_is_directory(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise RunDirError(f"{out_dir}: exists and is not a directory; choose another --out")


@contextlib.contextmanager
def hold(out_dir: Path) -> Iterator[None]:
    """Hold the run directory exclusively while this process decides and trains (created if missing).

    Two processes training one run directory (a workflow launched twice with ``--nolock``, a manual run
    beside a scheduled one) would interleave metrics rows and overwrite each other's checkpoints. The
    second one is refused at once. The lock is ``flock`` on the directory itself, so no lock file is left
    behind and a killed process releases it with its file descriptors. Where ``fcntl`` does not exist
    (Windows) nothing is locked.
    """
    _check_is_directory(out_dir)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(out_dir, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirError(
                f"{out_dir}: another process is training this run right now (it holds the directory's lock); "
                "let it finish or stop it, then rerun (a stopped run resumes from its checkpoint)"
            ) from None
        yield
    finally:
        os.close(fd)


def plan_run(cfg: Config, out_dir: Path, device_type: str, restart: bool = False) -> RunDirPlan:
    """Decide how ``mbpo train`` uses ``out_dir``; raise `RunDirError` / `CheckpointError` to refuse it.

    * no directory, or one with neither a checkpoint nor a finished run in it: a fresh run;
    * a checkpoint of this run with the same config: resume from it (``--restart``: discard it);
    * a finished run of this run and config (its last metrics row at ``steps``, no checkpoint left or a
      final one kept): nothing to do.
    """
    _check_is_directory(out_dir)
    if not out_dir.exists():
        return RunDirPlan()
    current = cfg.to_dict()
    saved_config = _read_config_yaml(out_dir / "config.yaml")
    if saved_config is not None:
        _check_identity(saved_config, out_dir / "config.yaml", cfg)
    checkpoint_path = out_dir / CHECKPOINT_NAME
    if restart or not checkpoint_path.exists():
        finished_there = saved_config is not None and _last_env_step(out_dir / "metrics.csv") == saved_config.get(
            "steps"
        )
        if restart or not finished_there:  # nothing to keep: a run that never reached its first checkpoint
            return RunDirPlan()
        differences = config_differences(saved_config, current, device_type)
        if differences:
            raise RunDirError(
                f"{out_dir}: this run finished with another config; differing keys: {'; '.join(differences)}. "
                "Pass --restart to train it again with the new config, or choose another --out"
            )
        return RunDirPlan(finished=True)

    checkpoint = load_checkpoint(checkpoint_path)
    _check_identity(checkpoint["config"], checkpoint_path, cfg)
    differences = config_differences(checkpoint["config"], current, device_type)
    if differences:
        raise RunDirError(
            f"{checkpoint_path}: the config differs from the checkpoint's; differing keys: {'; '.join(differences)}. "
            "Rerun with the checkpoint's settings to resume, or pass --restart to discard it"
        )
    if checkpoint["device"] != device_type:
        raise RunDirError(
            f"{checkpoint_path}: written on {checkpoint['device']}, this run is on {device_type}; its random "
            f"streams only continue on the same device. Use --device {checkpoint['device']}, or --restart"
        )
    return RunDirPlan(checkpoint=checkpoint, finished=checkpoint["step"] >= cfg.steps)


def restore_outputs(out_dir: Path, checkpoint: Checkpoint) -> bool:
    """Rewrite a finished run's ``metrics.csv`` and ``config.yaml`` from its kept final checkpoint if they
    are missing or incomplete (Snakemake deletes the outputs of a job it considers incomplete).

    Returns whether anything was rewritten.
    """
    if _last_env_step(out_dir / "metrics.csv") == checkpoint["step"] and (out_dir / "config.yaml").exists():
        return False
    write_outputs(out_dir, checkpoint["config"], checkpoint["log"]["columns"], checkpoint["log"]["rows"])
    return True


def discard_checkpoint(out_dir: Path) -> None:
    """Delete a run's checkpoint (``--restart``)."""
    (out_dir / CHECKPOINT_NAME).unlink(missing_ok=True)


def remove_temporaries(out_dir: Path) -> None:
    """Delete the temporary files that a process killed mid-write left in the run directory."""
    for name in (CHECKPOINT_NAME, "metrics.csv", "config.yaml", PROVENANCE):
        remove_stale_temporaries(out_dir / name)
