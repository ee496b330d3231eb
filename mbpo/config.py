"""Run configuration: typed defaults, the paper's per-env presets, and validated overrides.

A run's config is resolved in layers, each overriding the last:
``Config`` defaults → the env's preset for the algorithm (`mbpo.presets`) → the variant's overrides
(`mbpo.variants`) → ``--config FILE`` → ``--set key=value``. The result records every effective value
(the SAC target entropy included), so ``config.yaml`` alone reproduces the run.
Keys keep the official MBPO names (``num_train_repeat``, ``rollout_schedule``, …) so that a reader can map
them onto jannerm/mbpo's ``examples/config/<env>/0.py``. Nested sections are addressed with a dot:
``--set sac.lr=1e-3``, ``--set model.num_elites=3``.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mbpo.diagnostics.config import DiagnosticsConfig
from mbpo.envs import ENV_DYNAMICS, ENV_SPECS, env_spec
from mbpo.errors import ConfigError
from mbpo.model_usage import validate_usage
from mbpo.models.ensemble import EnsembleConfig
from mbpo.models.termination_net import TerminationNetConfig
from mbpo.presets import ALGOS, preset
from mbpo.sac import SACConfig
from mbpo.variants import get_variant

DEVICES = ("auto", "cpu", "cuda")
WANDB_MODES = ("offline", "online", "disabled")


@dataclass(frozen=True)
class Config:
    """Everything one training run needs; `config.yaml` in a run directory is this, resolved."""

    env: str = "hopper"  # short name or gymnasium id, see `mbpo.envs.ENV_SPECS`
    algo: str = "mbpo"  # "mbpo" or "sac" (the model-free baseline)
    variant: str = "default"  # a named variant of the algorithm, see `mbpo.variants`
    env_dynamics: str = "v5"  # "v5" (gymnasium's task) or "paper" (the paper's v2 dynamics where restorable)
    seed: int = 0  # drives torch, numpy, env resets and action sampling
    steps: int = 125_000  # total env steps, the random warm-up included
    device: str = "auto"  # "auto" (cuda if available), "cpu" or "cuda"

    # The loop (official names).
    epoch_length: int = 1000  # env steps per epoch; the rollout schedule counts these
    init_exploration_steps: int = 5000  # uniformly random actions before any learning
    num_train_repeat: int = 20  # G: SAC updates per env step (1 for the model-free baseline)
    replay_size: int = 1_000_000  # env buffer capacity
    eval_every: int = 1000  # env steps between evaluations
    eval_episodes: int = 5  # deterministic episodes per evaluation, on a separate env

    # Model usage (MBPO only, official names).
    model_train_freq: int = 250  # env steps between model refits (each followed by rollouts)
    rollout_batch_size: int = 100_000  # branches started per refit
    model_retain_epochs: int = 1  # epochs of rollouts the model buffer holds
    real_ratio: float = 0.05  # share of real transitions in each SAC batch
    rollout_schedule: tuple[int, int, int, int] = (20, 100, 1, 1)  # [e0, e1, k0, k1]

    # How rollouts use the model: the ablations' keys (`mbpo.model_usage`); these defaults are MBPO as published.
    rollout_fixed_length: int | str | None = None  # k at every epoch: an int, or "max" (the schedule's largest)
    rollout_termination: str = "static"  # where a branch ends: "static" (the env's rule), "learned", "none"
    rollout_penalty: float = 0.0  # λ: SAC learns from model rewards r − λ·u(s, a)
    rollout_uncertainty: str = "disagreement"  # u: "disagreement" (spread of elite means) or "aleatoric"
    termination_net: TerminationNetConfig = field(default_factory=TerminationNetConfig)  # for "learned"

    sac: SACConfig = field(default_factory=SACConfig)
    model: EnsembleConfig = field(default_factory=EnsembleConfig)
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)  # held-out model diagnostics, off

    wandb_project: str = "mbpo-bench"
    wandb_mode: str = "offline"  # "offline" (sync later with `wandb sync`), "online" or "disabled"

    # Checkpoints (they never change the numbers; a resume may change them).
    checkpoint_every: int | None = None  # env steps between checkpoints; None: every epoch_length
    keep_checkpoint: bool = False  # keep the final state as checkpoint.pt when the run finishes

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    def on_device(self, device_type: str) -> Config:
        """This config with what was left to the device decided, as the run records it: ``sac.cuda_graph``
        None becomes whether the run is on CUDA."""
        if self.sac.cuda_graph is not None:
            return self
        return dataclasses.replace(self, sac=dataclasses.replace(self.sac, cuda_graph=device_type == "cuda"))

    @property
    def target_entropy(self) -> float:
        """SAC's entropy target: ``sac.target_entropy`` (always set by `resolve`), else the preset's."""
        if self.sac.target_entropy is not None:
            return self.sac.target_entropy
        return preset(self.env, self.algo)["sac"]["target_entropy"]


def _plain(value: Any) -> Any:
    """Tuples to lists, recursively, so that the YAML is plain."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check ``value`` against a field's type (from YAML or ``--set``) and convert lists to tuples."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0])
    if origin is tuple:
        args = typing.get_args(annotation)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], key) for v in value)
        if len(value) != len(args):
            raise ConfigError(f"{key}: expected a list of {len(args)} values, got {value!r}")
        return tuple(_coerce(v, a, key) for v, a in zip(value, args, strict=True))
    if annotation in (int, float) and isinstance(value, str):
        try:  # YAML 1.1 reads "1e4" as a string; numbers in that form are what people type
            value = float(value)
        except ValueError:
            raise ConfigError(f"{key}: expected {annotation.__name__}, got {value!r}") from None
    if annotation is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if annotation is int and isinstance(value, float) and value.is_integer():
        return int(value)  # YAML reads 1e5 as a float; accept whole numbers for integer fields
    if annotation in (int, str, bool) and type(value) is annotation:
        return value
    raise ConfigError(f"{key}: expected {getattr(annotation, '__name__', annotation)}, got {value!r}")


def _merge(cfg: Any, overrides: Mapping[str, Any], prefix: str = "") -> Any:
    """A copy of dataclass ``cfg`` with nested ``overrides`` applied; unknown keys are errors."""
    hints = typing.get_type_hints(type(cfg))
    names = [f.name for f in dataclasses.fields(cfg)]
    changes = {}
    for key, value in overrides.items():
        full = prefix + key
        if key not in hints:
            allowed = ", ".join(prefix + n for n in names)
            raise ConfigError(f"unknown config key {full!r}; allowed: {allowed}")
        current = getattr(cfg, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{full}: expected a mapping of {type(current).__name__} fields, got {value!r}")
            changes[key] = _merge(current, value, prefix=full + ".")
        else:
            changes[key] = _coerce(value, hints[key], full)
    try:
        return dataclasses.replace(cfg, **changes)
    except ValueError as err:  # a component config's own validation (e.g. EnsembleConfig)
        raise ConfigError(str(err)) from err


def parse_set(assignments: list[str]) -> dict[str, Any]:
    """``["sac.lr=1e-3", "rollout_schedule=[1,10,1,5]"]`` → a nested dict; values are parsed as YAML."""
    nested: dict[str, Any] = {}
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        *parents, leaf = key.strip().split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(raw)
    return nested


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"{path}: cannot read the config file ({reason})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys, got {type(data).__name__}")
    return data


def resolve(*layers: Mapping[str, Any]) -> Config:
    """The run's full config: defaults → the env/algo preset → the variant → each layer in turn; validated.

    Layers are nested dicts (a YAML file, CLI flags, ``--set`` pairs), later ones winning. A
    ``sac.target_entropy`` left null means the preset's (or the variant's) value, which is recorded.
    """
    head = Config()
    for layer in layers:  # env, algo and variant choose the preset layers, so settle them first
        head = _merge(head, {k: v for k, v in layer.items() if k in ("env", "algo", "variant")})
    try:
        short_env = env_spec(head.env).short_name
    except ValueError as err:
        raise ConfigError(str(err)) from None
    _require(head.algo in ALGOS, f"unknown algo {head.algo!r}; allowed: {', '.join(ALGOS)}")
    try:
        variant = get_variant(head.algo, head.variant)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    base = _merge(_merge(Config(), preset(short_env, head.algo)), variant.overrides_for(short_env))
    cfg = base
    for layer in layers:
        cfg = _merge(cfg, layer)
    if cfg.sac.target_entropy is None:
        cfg = dataclasses.replace(cfg, sac=dataclasses.replace(cfg.sac, target_entropy=base.sac.target_entropy))
    cfg = dataclasses.replace(cfg, env=short_env)
    validate(cfg)
    return cfg


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def validate(cfg: Config) -> None:
    """Refuse configs that cannot run, naming the bad value and what is allowed."""
    _require(cfg.env in ENV_SPECS, f"unknown env {cfg.env!r}; allowed: {', '.join(ENV_SPECS)}")
    _require(cfg.algo in ALGOS, f"unknown algo {cfg.algo!r}; allowed: {', '.join(ALGOS)}")
    try:
        get_variant(cfg.algo, cfg.variant)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    _require(
        cfg.env_dynamics in ENV_DYNAMICS,
        f"unknown env_dynamics {cfg.env_dynamics!r}; allowed: {', '.join(ENV_DYNAMICS)}",
    )
    _require(cfg.device in DEVICES, f"unknown device {cfg.device!r}; allowed: {', '.join(DEVICES)}")
    _require(cfg.wandb_mode in WANDB_MODES, f"wandb_mode {cfg.wandb_mode!r}; allowed: {', '.join(WANDB_MODES)}")
    for name in (
        "steps",
        "epoch_length",
        "num_train_repeat",
        "replay_size",
        "eval_every",
        "eval_episodes",
        "model_train_freq",
        "rollout_batch_size",
        "model_retain_epochs",
    ):
        value = getattr(cfg, name)
        _require(value > 0, f"{name} must be a positive integer, got {value}")
    _require(
        cfg.checkpoint_every is None or cfg.checkpoint_every > 0,
        f"checkpoint_every must be a positive integer or null, got {cfg.checkpoint_every}",
    )
    _require(
        cfg.init_exploration_steps >= 0,
        f"init_exploration_steps must be >= 0, got {cfg.init_exploration_steps}",
    )
    _require(cfg.seed >= 0, f"seed must be >= 0, got {cfg.seed}")
    _require(
        cfg.epoch_length % cfg.model_train_freq == 0,
        f"epoch_length ({cfg.epoch_length}) must be a multiple of model_train_freq ({cfg.model_train_freq}): "
        "MBPO refits and branches rollouts every model_train_freq env steps and sizes its model buffer for "
        "epoch_length / model_train_freq rollout batches per epoch",
    )
    _require(0.0 <= cfg.real_ratio <= 1.0, f"real_ratio must lie in [0, 1], got {cfg.real_ratio}")
    e0, e1, k0, k1 = cfg.rollout_schedule
    _require(
        0 <= e0 <= e1 and k0 >= 1 and k1 >= 1,
        f"rollout_schedule [e0, e1, k0, k1] needs 0 <= e0 <= e1 and k0, k1 >= 1, got {list(cfg.rollout_schedule)}",
    )
    problems = validate_usage(cfg)
    _require(not problems, "; ".join(problems))
    _require(cfg.sac.batch_size > 0, f"sac.batch_size must be positive, got {cfg.sac.batch_size}")
    _require(0.0 < cfg.sac.tau <= 1.0, f"sac.tau must lie in (0, 1], got {cfg.sac.tau}")
    _require(0.0 <= cfg.sac.gamma < 1.0, f"sac.gamma must lie in [0, 1), got {cfg.sac.gamma}")
    _require(cfg.sac.lr > 0 and cfg.sac.init_alpha > 0, "sac.lr and sac.init_alpha must be positive")
    _require(cfg.sac.target_entropy is not None, "sac.target_entropy must be a number (resolve() sets it)")
    if cfg.init_exploration_steps >= cfg.steps:
        print(
            f"warning: init_exploration_steps ({cfg.init_exploration_steps}) >= steps ({cfg.steps}): "
            "this run only takes random actions and never trains",
            file=sys.stderr,
        )
