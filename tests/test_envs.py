"""``env_dynamics: paper`` restores exactly the v2 behaviour it claims, and nothing else.

Walker2d: the compiled MuJoCo model differs from v5's in the right foot's friction only (0.9 vs 1.9), and
equals the model of gymnasium's own v2-v4 ``walker2d.xml``. Hopper, Walker2d, Ant, InvertedPendulum: stepped
from the same state with the same actions, the paper env's observations, flags and rewards equal v5's,
except that the terminating step also pays the healthy reward (1.0). HalfCheetah: identical.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import mujoco
import numpy as np
import pytest

from mbpo.envs import ENV_DYNAMICS, ENV_SPECS, env_label, env_spec, make_env

ENVS = list(ENV_SPECS)


def model_arrays(model: mujoco.MjModel) -> dict[str, np.ndarray]:
    """Every numeric array of a compiled MuJoCo model, by attribute name."""
    arrays = {}
    for name in dir(model):
        if name.startswith("_"):
            continue
        value = getattr(model, name)
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            arrays[name] = value
    return arrays


def model_differences(a: mujoco.MjModel, b: mujoco.MjModel) -> dict[str, np.ndarray]:
    """``{attribute: indices where a and b differ}`` over every numeric array of the two models."""
    arrays_a, arrays_b = model_arrays(a), model_arrays(b)
    assert arrays_a.keys() == arrays_b.keys()
    diffs = {}
    for name, x in arrays_a.items():
        y = arrays_b[name]
        assert x.shape == y.shape, name
        differ = ~((x == y) | (np.isnan(x) & np.isnan(y)) if x.dtype.kind == "f" else x == y)
        if differ.any():
            diffs[name] = np.argwhere(differ)
    return diffs


def test_paper_walker2d_changes_the_right_foot_friction_and_nothing_else() -> None:
    v5, paper = make_env("walker2d").unwrapped.model, make_env("walker2d", "paper").unwrapped.model
    foot = mujoco.mj_name2id(v5, mujoco.mjtObj.mjOBJ_GEOM, "foot_geom")
    left = mujoco.mj_name2id(v5, mujoco.mjtObj.mjOBJ_GEOM, "foot_left_geom")

    diffs = model_differences(v5, paper)
    assert list(diffs) == ["geom_friction"]
    assert diffs["geom_friction"].tolist() == [[foot, 0]]  # sliding friction of the right foot only
    assert (v5.geom_friction[foot, 0], paper.geom_friction[foot, 0]) == (1.9, 0.9)
    assert v5.geom_friction[left, 0] == paper.geom_friction[left, 0] == 1.9


def test_paper_walker2d_is_gymnasiums_own_v2_to_v4_model() -> None:
    """gymnasium still ships the pre-v5 model as ``walker2d.xml``; ours must compile to the same model."""
    legacy = Path(gym.__file__).parent / "envs/mujoco/assets/walker2d.xml"
    if not legacy.is_file():
        pytest.skip("this gymnasium no longer ships walker2d.xml")
    ours = make_env("walker2d", "paper").unwrapped.model
    assert model_differences(ours, mujoco.MjModel.from_xml_path(str(legacy))) == {}


@pytest.mark.parametrize("name", ["hopper", "halfcheetah", "ant", "invertedpendulum"])
def test_paper_dynamics_keep_the_other_models(name: str) -> None:
    assert model_differences(make_env(name).unwrapped.model, make_env(name, "paper").unwrapped.model) == {}


def same_model_pair(name: str) -> tuple[gym.Env, gym.Env]:
    """The paper env, and the v5 env built on the same model (isolates the reward wrapper from the XML)."""
    spec = env_spec(name)
    plain = gym.make(
        spec.gym_id, max_episode_steps=spec.max_episode_steps, **spec.make_kwargs, **spec.paper_make_kwargs
    )
    return make_env(name, "paper"), plain


@pytest.mark.parametrize("name", ENVS)
def test_paper_reward_differs_only_on_the_terminating_step(name: str) -> None:
    paper, plain = same_model_pair(name)
    rng = np.random.default_rng(0)
    steps = terminations = 0
    for episode in range(6):
        obs_p, _ = paper.reset(seed=episode)
        obs_v, _ = plain.reset(seed=episode)
        assert np.array_equal(obs_p, obs_v)
        for _ in range(300):
            action = rng.uniform(-1.0, 1.0, size=paper.action_space.shape).astype(np.float32)
            obs_p, rew_p, term_p, trunc_p, _ = paper.step(action)
            obs_v, rew_v, term_v, trunc_v, _ = plain.step(action)
            assert np.array_equal(obs_p, obs_v) and (term_p, trunc_p) == (term_v, trunc_v)
            bonus = env_spec(name).paper_terminal_reward if term_v else 0.0
            assert rew_p == rew_v + bonus
            steps += 1
            if term_v:
                terminations += 1
                break
    assert steps > 0
    if env_spec(name).paper_terminal_reward:
        assert terminations >= 3  # the bonus really was exercised


def test_v5_withholds_the_healthy_reward_that_paper_pays_on_termination() -> None:
    """The fact the wrapper restores: v5's terminating step pays no healthy reward (v2 paid 1.0)."""
    paper, plain = same_model_pair("hopper")
    for env in (paper, plain):
        env.reset(seed=0)
        sim = env.unwrapped
        qpos = sim.data.qpos.copy()
        qpos[1] = 0.5  # the torso below Hopper's healthy height (0.7): the next step terminates
        sim.set_state(qpos, sim.data.qvel.copy())
    zero = np.zeros(3, dtype=np.float32)
    *_, term_p, _, info_p = paper.step(zero)
    *_, term_v, _, info_v = plain.step(zero)
    assert term_p and term_v
    assert (info_v["reward_survive"], info_p["reward_survive"]) == (0.0, 1.0)


def test_the_option_is_validated_and_labelled() -> None:
    assert ENV_DYNAMICS == ("v5", "paper")
    with pytest.raises(ValueError, match="unknown env dynamics 'v2'; allowed: v5, paper"):
        make_env("hopper", "v2")
    assert env_label("walker2d") == "Walker2d-v5"
    assert env_label("walker2d", "paper") == "Walker2d-v5 (paper dynamics)"


@pytest.mark.parametrize("name", ENVS)
def test_published_target_entropy_is_minus_the_action_dimension(name: str) -> None:
    env = make_env(name)
    assert env_spec(name).action_dim == env.action_space.shape[0]
    assert env_spec(name).published_target_entropy == -float(env.action_space.shape[0])
