"""The paper's settings per env, and the published SAC baseline's: plain data, with their sources.

Kept apart from `mbpo.config` (which imports the torch modules whose configs it composes), so that the
workflow can read each env's budget without importing torch into every Snakemake invocation.
"""

from __future__ import annotations

from typing import Any

from mbpo.envs import env_spec

ALGOS = ("sac", "mbpo")  # the model-free baseline and MBPO, each with a preset below

# MBPO's settings per env. Sources: jannerm/mbpo examples/config/<env>/0.py (num_train_repeat,
# rollout_schedule, epoch_length, init exploration, target_entropy: `mbpo.envs`) and the x-axis of the
# paper's Figure 2 (steps). SAC inside MBPO keeps softlearning's values (`SAC_PRESET`'s sources).
PRESETS: dict[str, dict[str, Any]] = {
    "hopper": {"steps": 125_000, "num_train_repeat": 20, "rollout_schedule": (20, 150, 1, 15)},
    "walker2d": {"steps": 300_000, "num_train_repeat": 20, "rollout_schedule": (20, 150, 1, 1)},
    "halfcheetah": {"steps": 400_000, "num_train_repeat": 40, "rollout_schedule": (20, 150, 1, 1)},
    "ant": {"steps": 300_000, "num_train_repeat": 20, "rollout_schedule": (20, 100, 1, 25)},
    "invertedpendulum": {
        "steps": 15_000,
        "num_train_repeat": 10,
        "rollout_schedule": (1, 15, 1, 1),
        "epoch_length": 250,
        "init_exploration_steps": 500,
        "eval_every": 250,
    },
}
# The model-free baseline: SAC as its authors published it (Haarnoja et al., 2018, "Soft Actor-Critic
# Algorithms and Applications"), i.e. rail-berkeley/softlearning's settings. It keeps the env's budget and
# evaluation grid above, so both algorithms are measured at the same env steps. Sources:
#   [sl-variants] softlearning examples/development/variants.py: ALGORITHM_PARAMS_ADDITIONAL['SAC'] and
#                 get_variant_spec_base (policy and Q hidden layers (M, M), M = 256; batch_size 256;
#                 replay pool min(1e6, total steps); n_train_repeat 1).
#   [sl-sac]      softlearning softlearning/algorithms/sac.py: target_entropy 'auto' = -prod(action shape),
#                 log alpha initialised at 0.
# Warm-up: softlearning takes 10 x max_path_length = 10,000 random steps (`num_warmup_samples`; earlier
# versions of that file: n_initial_exploration_steps = 1,000 for SAC). We keep MBPO's (5,000; InvertedPendulum
# 500), so that both algorithms start learning from the same amount of random data (see the README).
SAC_PRESET: dict[str, Any] = {
    "num_train_repeat": 1,  # [sl-variants] n_train_repeat
    "replay_size": 1_000_000,  # [sl-variants] replay pool max_size
    "sac": {
        "hidden_sizes": (256, 256),  # [sl-variants] hidden_layer_sizes (M, M)
        "lr": 3e-4,  # [sl-variants] policy_lr = Q_lr = alpha_lr
        "gamma": 0.99,  # [sl-variants] discount
        "tau": 5e-3,  # [sl-variants] tau, target_update_interval 1
        "batch_size": 256,  # [sl-variants] batch_size
        "init_alpha": 1.0,  # [sl-sac] log alpha starts at 0
        # target_entropy: -|A| per env ([sl-sac] 'auto'), set in `preset`
    },
}


def preset(env: str, algo: str) -> dict[str, Any]:
    """The env's preset layer for ``algo``, target entropy included: MBPO's per-env value, or -|A| for SAC."""
    spec = env_spec(env)
    if algo == "sac":
        sac = {**SAC_PRESET["sac"], "target_entropy": spec.published_target_entropy}
        return {**PRESETS[spec.short_name], **SAC_PRESET, "sac": sac}
    return {**PRESETS[spec.short_name], "sac": {"target_entropy": spec.mbpo_target_entropy}}
