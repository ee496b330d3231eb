"""Small in-process measurements: real env steps, and the data the workers share."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import torch

from mbpo.buffer import ReplayBuffer
from mbpo.envs import make_env
from mbpo.interaction import EnvRunner
from mbpo.sac import SAC

CACHE = Path(__file__).resolve().parents[1] / ".bench-cache"


def random_transitions(env_name: str, n: int, seed: int = 0) -> Path:
    """``n`` real transitions of a uniformly random policy as an .npz (cached: made once per machine)."""
    path = CACHE / f"{env_name}-random-{n}-s{seed}.npz"
    if path.exists():
        return path
    env = make_env(env_name)
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    data = {
        "obs": np.zeros((n, obs_dim), np.float32),
        "act": np.zeros((n, act_dim), np.float32),
        "rew": np.zeros(n, np.float32),
        "next_obs": np.zeros((n, obs_dim), np.float32),
        "terminated": np.zeros(n, np.float32),
    }
    for i in range(n):
        action = env.action_space.sample()
        next_obs, reward, terminated, truncated, _ = env.step(action)
        data["obs"][i], data["act"][i], data["rew"][i] = obs, action, reward
        data["next_obs"][i], data["terminated"][i] = next_obs, terminated
        obs = env.reset()[0] if terminated or truncated else next_obs
    env.close()
    CACHE.mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **data)
    tmp.replace(path)
    return path


def env_step_costs(env_name: str, steps: int, device: torch.device) -> dict[str, float]:
    """Seconds per env step: random (warm-up), stochastic policy stored in a buffer (training), and
    deterministic policy (evaluation), each with an untrained 2x256 policy and the real env."""
    env = make_env(env_name)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    torch.manual_seed(0)
    space = env.action_space
    agent = SAC(obs_dim, act_dim, space.low, space.high, -1.0).to(device)
    runner = EnvRunner(env, ReplayBuffer(2 * steps, obs_dim, act_dim, device), seed=0)

    def per_step(step) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        return (time.perf_counter() - start) / steps

    eval_env = make_env(env_name)
    state = {"obs": eval_env.reset(seed=1)[0]}

    def eval_step() -> None:  # as `mbpo.interaction.evaluate` steps
        obs = torch.as_tensor(state["obs"], dtype=torch.float32, device=device).unsqueeze(0)
        action = agent.act(obs, deterministic=True)[0].cpu().numpy()
        next_obs, _, terminated, truncated, _ = eval_env.step(action)
        state["obs"] = eval_env.reset()[0] if terminated or truncated else next_obs

    costs = {
        "random_env_step": statistics.median(per_step(lambda: runner.step(runner.random_action())) for _ in range(3)),
        "policy_env_step": statistics.median(
            per_step(lambda: runner.step(runner.policy_action(agent, device))) for _ in range(3)
        ),
        "eval_env_step": statistics.median(per_step(eval_step) for _ in range(3)),
    }
    env.close()
    eval_env.close()
    return costs
