"""The SAC baseline is the published SAC; named variants are one registry, applied as one config layer."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mbpo.cli import main
from mbpo.config import ConfigError, parse_set, resolve
from mbpo.envs import ENV_SPECS, make_env
from mbpo.variants import VARIANTS, display_name, get_variant, variants_for

# The SAC authors' 'auto' target entropy, -|A|, written out per task (softlearning; Haarnoja et al. 2018).
PUBLISHED = {"hopper": -3.0, "walker2d": -6.0, "halfcheetah": -6.0, "ant": -8.0, "invertedpendulum": -1.0}
# MBPO's per-env SAC targets (jannerm/mbpo examples/config/<env>/0.py).
MBPO = {"hopper": -1.0, "walker2d": -3.0, "halfcheetah": -3.0, "ant": -4.0, "invertedpendulum": -0.05}


@pytest.mark.parametrize("env", list(ENV_SPECS))
def test_sac_baseline_uses_minus_the_action_dimension(env: str) -> None:
    cfg = resolve({"env": env, "algo": "sac"})
    assert cfg.sac.target_entropy == PUBLISHED[env] == -make_env(env).action_space.shape[0]
    assert cfg.num_train_repeat == 1
    # softlearning's SAC: 3e-4 everywhere, tau 5e-3, gamma 0.99, batch 256, two 256-unit layers, alpha0 = 1
    assert (cfg.sac.lr, cfg.sac.tau, cfg.sac.gamma, cfg.sac.batch_size) == (3e-4, 5e-3, 0.99, 256)
    assert (cfg.sac.hidden_sizes, cfg.sac.init_alpha, cfg.replay_size) == ((256, 256), 1.0, 1_000_000)


@pytest.mark.parametrize("env", list(ENV_SPECS))
def test_mbpo_entropy_variant_is_mbpos_sac_without_the_model(env: str) -> None:
    sac = resolve({"env": env, "algo": "sac", "variant": "mbpo-entropy"})
    mbpo = resolve({"env": env, "algo": "mbpo"})
    assert sac.sac.target_entropy == mbpo.sac.target_entropy == MBPO[env]
    assert sac.sac == mbpo.sac  # every SAC hyperparameter is MBPO's
    published = resolve({"env": env, "algo": "sac"}).to_dict()
    differs = {k for k, v in sac.to_dict().items() if published[k] != v}
    assert differs == {"variant", "sac"}  # the variant changes the entropy target and nothing else
    assert {k for k, v in sac.to_dict()["sac"].items() if published["sac"][k] != v} == {"target_entropy"}


def test_both_algorithms_start_learning_after_the_same_warmup() -> None:
    for env in ENV_SPECS:
        sac, mbpo = resolve({"env": env, "algo": "sac"}), resolve({"env": env, "algo": "mbpo"})
        assert sac.init_exploration_steps == mbpo.init_exploration_steps
        assert (sac.steps, sac.eval_every) == (mbpo.steps, mbpo.eval_every)


def test_the_variant_layer_sits_between_the_preset_and_the_user() -> None:
    cfg = resolve({"env": "hopper", "algo": "sac", "variant": "mbpo-entropy"}, parse_set(["sac.target_entropy=-2"]))
    assert cfg.sac.target_entropy == -2.0  # the user wins over the variant
    cfg = resolve({"env": "hopper", "algo": "sac", "variant": "mbpo-entropy"}, {"sac": {"target_entropy": None}})
    assert cfg.sac.target_entropy == -1.0  # null means the variant's (else the preset's) value, recorded
    assert resolve(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    ("algo", "variant", "message"),
    [
        ("sac", "nope", "unknown variant 'nope' for algo 'sac'; allowed: default, mbpo-entropy"),
        ("mbpo", "mbpo-entropy", "unknown variant 'mbpo-entropy' for algo 'mbpo'; allowed: default"),
    ],
)
def test_an_unknown_variant_names_the_allowed_ones_for_its_algo(algo: str, variant: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        resolve({"env": "hopper", "algo": algo, "variant": variant})
    assert message in str(err.value)


def test_every_variant_is_documented_and_named_once_per_algo() -> None:
    for v in VARIANTS:
        assert v.doc.strip() and "\n" not in v.doc and v.label.strip() and v.algos
    for algo in ("mbpo", "sac"):
        names = [v.name for v in VARIANTS if algo in v.algos]
        assert len(names) == len(set(names)) and "default" in names
        assert list(variants_for(algo)) == names
    assert get_variant("sac", "mbpo-entropy").overrides_for("Walker2d-v5") == {"sac": {"target_entropy": -3.0}}
    assert display_name("sac", "default") == "SAC (published, H=−|A|)"
    assert display_name("sac", "mbpo-entropy") == "SAC (MBPO's entropy)"
    assert display_name("mbpo", "no-such") == "MBPO (no-such)"


def test_config_yaml_records_the_effective_target_entropy_and_variant(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["--env", "hopper", "--algo", "sac", "--variant", "mbpo-entropy", "--steps", "40", "--quiet"]
    main(["train", *args, "--set", "init_exploration_steps=40", "--set", "eval_episodes=1", "--out", str(out)])
    recorded = yaml.safe_load((out / "config.yaml").read_text())
    assert recorded["variant"] == "mbpo-entropy" and recorded["sac"]["target_entropy"] == -1.0
    assert recorded["env_dynamics"] == "v5"
