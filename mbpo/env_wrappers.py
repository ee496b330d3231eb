"""Wrappers that restore a v2 behaviour of the paper's tasks on top of gymnasium's v5 envs, without forking them.

Only what gymnasium's own arguments cannot express lives here; `mbpo.envs` decides which task gets which.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym


class TerminalHealthyReward(gym.Wrapper):
    """Pay the healthy reward on the terminating step too, as the v2 tasks did.

    gym's v2 Hopper, Walker2d, Ant and InvertedPendulum added their alive bonus on every step, the one that
    ends the episode included; gymnasium v5 pays it only while healthy (v5 version history: "Fixed bug:
    healthy_reward was given on every step"). A v5 env terminates exactly when it is unhealthy, so adding
    ``healthy_reward`` to the reward of a ``terminated`` step gives back v2's reward and changes nothing
    else: observations, flags and every other step are v5's.
    """

    def __init__(self, env: gym.Env, healthy_reward: float) -> None:
        super().__init__(env)
        self.healthy_reward = float(healthy_reward)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        if terminated:
            reward = float(reward) + self.healthy_reward
            if "reward_survive" in info:
                info = {**info, "reward_survive": info["reward_survive"] + self.healthy_reward}
        return obs, reward, terminated, truncated, info
