"""Named variants of each algorithm: one registry, so that every run says which comparison it belongs to.

A variant is a layer of config overrides applied between the env's preset and the user's own layers
(``--config``, ``--set``), so the user can still change anything. ``config.yaml`` records the variant's
name and, being resolved, every value it set. Each variant says in one line what it changes and why.

To add one (e.g. an MBPO ablation), append a `Variant` to `VARIANTS`; the CLI, the config validation, the
workflow and the table pick it up from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mbpo.envs import env_spec

Overrides = Mapping[str, Any] | Callable[[str], Mapping[str, Any]]


@dataclass(frozen=True)
class Variant:
    """One named variant.

    Attributes:
        name: what ``--variant`` and the workflow's ``variants`` lists take (``mbpo-entropy``).
        algos: the algorithms it applies to.
        doc: one line: what it changes and why.
        label: how tables and figures name its runs (``SAC (MBPO's entropy)``).
        overrides: nested config keys to set, or a function of the env's short name returning them.
    """

    name: str
    algos: tuple[str, ...]
    doc: str
    label: str
    overrides: Overrides = field(default_factory=dict)

    def overrides_for(self, env: str) -> dict[str, Any]:
        """The config layer this variant adds for ``env`` (a short name or gymnasium id)."""
        layer = self.overrides(env_spec(env).short_name) if callable(self.overrides) else self.overrides
        return dict(layer)


VARIANTS: tuple[Variant, ...] = (
    Variant(
        name="default",
        algos=("mbpo",),
        doc="MBPO at the official per-env settings (the paper's method).",
        label="MBPO",
    ),
    Variant(
        name="default",
        algos=("sac",),
        doc="SAC as its authors published it (target entropy -|A|, softlearning): the paper's model-free baseline.",
        label="SAC (published, H=−|A|)",
    ),
    Variant(
        name="mbpo-entropy",
        algos=("sac",),
        doc="SAC with MBPO's own SAC settings (its per-env target entropies): the same agent without a model.",
        label="SAC (MBPO's entropy)",
        overrides=lambda env: {"sac": {"target_entropy": env_spec(env).mbpo_target_entropy}},
    ),
    # MBPO's ablations (issue #10; `mbpo.model_usage` implements the keys they set, reports/ablations.md
    # compares each with `default`). Each changes one thing about how rollouts use the model.
    *(
        Variant(
            name=f"penalty{suffix}",
            algos=("mbpo",),
            doc=f"Model rewards r - {coef:g}·u(s, a), u the spread of the elites' predicted means: pessimism "
            "about what the model does not know (design note §9.1, MOPO online).",
            label=f"MBPO (penalty λ={coef:g})",
            overrides={"rollout_penalty": coef},
        )
        for suffix, coef in (("", 1.0), ("-0.5", 0.5), ("-2", 2.0))
    ),
    Variant(
        name="learned-termination",
        algos=("mbpo",),
        doc="Branches end where a classifier p(done | s'), refit on the real transitions at every model refit, "
        "says so, instead of the env's own rule.",
        label="MBPO (learned termination)",
        overrides={"rollout_termination": "learned"},
    ),
    Variant(
        name="no-termination",
        algos=("mbpo",),
        doc="Branches never end early (the design note's rollouts): what the termination rule is worth.",
        label="MBPO (no termination)",
        overrides={"rollout_termination": "none"},
    ),
    Variant(
        name="fixed-k1",
        algos=("mbpo",),
        doc="Rollout length 1 at every epoch: what the growing rollout schedule is worth.",
        label="MBPO (k = 1)",
        overrides={"rollout_fixed_length": 1},
    ),
    Variant(
        name="fixed-kmax",
        algos=("mbpo",),
        doc="The schedule's largest k from the first epoch (Hopper 15, Ant 25; Walker2d and HalfCheetah "
        "stay at 1, i.e. default).",
        label="MBPO (k = max)",
        overrides={"rollout_fixed_length": "max"},
    ),
)


def variants_for(algo: str) -> dict[str, Variant]:
    """The variants of ``algo`` by name, in registry order."""
    return {v.name: v for v in VARIANTS if algo in v.algos}


def get_variant(algo: str, name: str) -> Variant:
    """The variant ``name`` of ``algo``; ``ValueError`` naming the allowed ones for that algo otherwise."""
    found = variants_for(algo)
    if name not in found:
        raise ValueError(f"unknown variant {name!r} for algo {algo!r}; allowed: {', '.join(found)}")
    return found[name]


def display_name(algo: str, variant: str) -> str:
    """A run group's label for tables: the registry's label, or ``ALGO (variant)`` for an unregistered one."""
    found = variants_for(algo)
    return found[variant].label if variant in found else f"{algo.upper()} ({variant})"
