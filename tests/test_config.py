import pytest

from mbpo.cli import main
from mbpo.config import ConfigError, parse_set, resolve
from mbpo.presets import PRESETS


def test_presets_follow_the_official_configs():
    hopper = resolve({"env": "hopper", "algo": "mbpo"})
    assert (hopper.steps, hopper.num_train_repeat, hopper.rollout_schedule) == (125_000, 20, (20, 150, 1, 15))
    cheetah = resolve({"env": "HalfCheetah-v5", "algo": "mbpo"})
    assert cheetah.env == "halfcheetah" and cheetah.num_train_repeat == 40
    assert resolve({"env": "ant", "algo": "mbpo"}).rollout_schedule == (20, 100, 1, 25)
    pendulum = resolve({"env": "invertedpendulum", "algo": "mbpo"})
    assert (pendulum.epoch_length, pendulum.init_exploration_steps) == (250, 500)
    assert set(PRESETS) == {"hopper", "walker2d", "halfcheetah", "ant", "invertedpendulum"}


def test_sac_keeps_the_budget_but_updates_once_per_step():
    cfg = resolve({"env": "walker2d", "algo": "sac"})
    assert cfg.steps == 300_000 and cfg.num_train_repeat == 1
    assert cfg.target_entropy == cfg.sac.target_entropy == -6.0  # the published SAC's -|A| (tests/test_variants.py)


def test_later_layers_win_and_values_are_typed():
    cfg = resolve(
        {"env": "hopper", "algo": "mbpo", "sac": {"lr": 1e-3}},
        parse_set(["rollout_batch_size=1e4", "rollout_schedule=[1, 10, 1, 5]", "sac.lr=5e-4", "model.num_elites=3"]),
    )
    assert cfg.rollout_batch_size == 10_000 and isinstance(cfg.rollout_batch_size, int)
    assert cfg.rollout_schedule == (1, 10, 1, 5)
    assert cfg.sac.lr == 5e-4 and cfg.model.num_elites == 3


def test_resolved_config_round_trips_through_its_dict():
    cfg = resolve({"env": "ant", "algo": "mbpo"}, parse_set(["sac.hidden_sizes=[64, 64]"]))
    assert resolve(cfg.to_dict()) == cfg


def test_the_cuda_graph_is_left_to_the_device_and_recorded_as_decided():
    """None ("on for CUDA") never reaches config.yaml: a CPU run records false, so its config compares equal
    to the runs that recorded false before the default changed (resume, tests/test_resume.py)."""
    cfg = resolve({"env": "hopper"})
    assert cfg.sac.cuda_graph is None
    assert cfg.on_device("cpu").sac.cuda_graph is False and cfg.on_device("cuda").sac.cuda_graph is True
    eager = resolve({"env": "hopper"}, parse_set(["sac.cuda_graph=false"]))
    assert eager.on_device("cuda") == eager


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ({"env": "pong"}, "unknown env 'pong'; allowed: ant, halfcheetah, hopper"),
        ({"algo": "ppo"}, "unknown algo 'ppo'; allowed: sac, mbpo"),
        ({"steps": 0}, "steps must be a positive integer, got 0"),
        ({"eval_every": -5}, "eval_every must be a positive integer, got -5"),
        ({"rollout_batch_sise": 10}, "unknown config key 'rollout_batch_sise'; allowed: env, algo"),
        ({"sac": {"lrr": 1}}, "unknown config key 'sac.lrr'; allowed: sac.hidden_sizes"),
        ({"steps": "many"}, "steps: expected int, got 'many'"),
        ({"rollout_schedule": [1, 2, 3]}, "rollout_schedule: expected a list of 4 values"),
        ({"rollout_schedule": [10, 5, 1, 1]}, "needs 0 <= e0 <= e1"),
        ({"real_ratio": 1.5}, "real_ratio must lie in [0, 1], got 1.5"),
        ({"variant": "nope"}, "unknown variant 'nope' for algo 'mbpo'; allowed: default"),
        ({"env_dynamics": "v2"}, "unknown env_dynamics 'v2'; allowed: v5, paper"),
        ({"epoch_length": 1000, "model_train_freq": 300}, "epoch_length (1000) must be a multiple of model_train_freq"),
        ({"model": {"num_elites": 9}}, "num_elites"),
    ],
)
def test_impossible_configs_are_refused_with_a_message_naming_the_problem(layer, message):
    with pytest.raises(ConfigError) as err:
        resolve({"env": "hopper", "algo": "mbpo"}, layer)
    assert message in str(err.value)


def test_set_needs_key_equals_value():
    with pytest.raises(ConfigError, match="key=value"):
        parse_set(["rollout_batch_size"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--env", "pong", "--algo", "sac"], "unknown env 'pong'"),
        (["--env", "hopper", "--algo", "sac", "--steps", "0"], "steps must be a positive integer"),
        (["--env", "hopper", "--algo", "sac", "--set", "eval_every=0"], "eval_every must be a positive integer"),
        (["--env", "hopper", "--algo", "sac", "--set", "colour=blue"], "unknown config key 'colour'"),
    ],
)
def test_cli_exits_non_zero_before_any_work(tmp_path, argv, message):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *argv, "--out", str(out)])
    assert message in str(exit_info.value.code)
    assert not out.exists()  # nothing was started


def test_cli_reports_a_missing_config_file(tmp_path):
    with pytest.raises(SystemExit, match="config file not found"):
        main(["train", "--env", "hopper", "--algo", "sac", "--config", str(tmp_path / "no.yaml"), "--out", "x"])
