"""Acting in the real environment: collecting training transitions and evaluating the policy."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from mbpo.buffer import ReplayBuffer
from mbpo.checkpoint import env_state, load_env_state
from mbpo.sac import SAC


class EnvRunner:
    """Steps the training env one transition at a time into a replay buffer, resetting at episode ends.

    A time-limit cut (``truncated``) is stored as not terminated, so it is still bootstrapped.
    """

    def __init__(self, env: gym.Env, buffer: ReplayBuffer, seed: int) -> None:
        self.env, self.buffer = env, buffer
        self.env.action_space.seed(seed)
        self.obs, _ = env.reset(seed=seed)
        self._episode_return = 0.0
        self.finished_returns: list[float] = []  # episodes completed since last drained

    def random_action(self) -> np.ndarray:
        return self.env.action_space.sample()

    def policy_action(self, agent: SAC, device: torch.device) -> np.ndarray:
        """A stochastic action from the current policy (exploration, as in training)."""
        obs = torch.as_tensor(self.obs, dtype=torch.float32, device=device).unsqueeze(0)
        return agent.act(obs)[0].cpu().numpy()

    def step(self, action: np.ndarray) -> None:
        next_obs, reward, terminated, truncated, _ = self.env.step(action)
        self.buffer.add(self.obs, action, reward, next_obs, terminated)
        self._episode_return += float(reward)
        if terminated or truncated:
            self.finished_returns.append(self._episode_return)
            self._episode_return = 0.0
            next_obs, _ = self.env.reset()
        self.obs = next_obs

    def drain_returns(self) -> float | None:
        """Mean return of the training episodes finished since the last call (None if none finished)."""
        returns, self.finished_returns = self.finished_returns, []
        return float(np.mean(returns)) if returns else None

    def state_dict(self) -> dict[str, Any]:
        """The env mid-episode (simulator, RNGs, time limit), the current observation and episode return.

        The buffer is not included: it is checkpointed on its own.
        """
        return {
            "env": env_state(self.env),
            "obs": torch.from_numpy(np.array(self.obs)),
            "episode_return": self._episode_return,
            "finished_returns": list(self.finished_returns),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_env_state(self.env, state["env"])
        self.obs = state["obs"].numpy()
        self._episode_return = state["episode_return"]
        self.finished_returns = list(state["finished_returns"])


def evaluate(agent: SAC, env: gym.Env, episodes: int, device: torch.device) -> np.ndarray:
    """Returns ``(episodes,)`` of the deterministic policy (tanh of the mean) on ``env``.

    ``env`` is a separate instance from the training env, seeded once when made, so evaluation never
    perturbs the training stream of random numbers.
    """
    returns = np.zeros(episodes)
    for i in range(episodes):
        obs, _ = env.reset()
        done = False
        while not done:
            obs_t = torch.as_tensor(obs, dtype=torch.float32, device=device).unsqueeze(0)
            action = agent.act(obs_t, deterministic=True)[0].cpu().numpy()
            obs, reward, terminated, truncated, _ = env.step(action)
            returns[i] += reward
            done = terminated or truncated
    return returns
