"""Static termination functions for model rollouts, one per task, mirroring the gymnasium v5 envs.

MBPO's model predicts next observations but not ``terminated``; like the official code (jannerm/mbpo,
``mbpo/static/*.py``) we compute it from the predicted observation with a hand-written rule. The rules
here follow the *gymnasium v5* ``is_healthy``/``step`` code, which is what we train and evaluate on, so
that on real transitions they reproduce the env's own ``terminated`` flag (checked on every transition
in ``tests/test_termination.py``).

Every function maps ``next_obs`` of shape ``(..., obs_dim)`` to a bool tensor of shape ``(...)``
(``True`` = terminated). They are pure, element-wise, device- and dtype-agnostic, and never synchronise
with the host, so they can run inside the rollout loop on an accelerator. They are plain callables,
looked up by name, so that an ablation can inject a different one (learned, or "never terminate").

Floating point: the env compares float64 values; the training loop feeds float32. Every comparison
here is done on the input's own dtype against the threshold rounded *outward or inward as the operator
needs* (see `_gt` and friends), so that ``fn(x)`` equals the env's float64 test applied to
``x.double()`` exactly, for any input dtype. The only residual difference is the information lost
when a float64 observation is rounded to float32: a value within half a float32 ulp of a threshold
(|x - 0.7| < 3e-8 for Hopper's height) may land on the other side. That is inherent to float32 storage,
not to these functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from mbpo.envs import env_spec

TerminationFn = Callable[[torch.Tensor], torch.Tensor]

# Every threshold used below, so that their per-dtype roundings can be tabulated once at import.
_THRESHOLDS = (0.7, 0.2, -0.2, 100.0, -100.0, math.inf, 0.8, 2.0, 1.0, -1.0)
_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _floor_ceil(t: float, dtype: torch.dtype) -> tuple[float, float]:
    """The largest value of ``dtype`` that is <= ``t`` and the smallest that is >= ``t``, as Python floats."""
    near = torch.tensor(t, dtype=dtype)  # round to nearest: one of the two answers
    if float(near) == t:
        return t, t
    toward_t = torch.tensor(math.inf if float(near) < t else -math.inf, dtype=dtype)
    other = float(torch.nextafter(near, toward_t))
    return (float(near), other) if float(near) < t else (other, float(near))


def _floor_ceil_of(t: float, dtype: torch.dtype) -> tuple[float, float]:
    return _BOUNDS.get((t, dtype)) or _floor_ceil(t, dtype)


_BOUNDS: dict[tuple[float, torch.dtype], tuple[float, float]] = {
    (t, d): _floor_ceil(t, d) for t in _THRESHOLDS for d in _FLOAT_DTYPES
}


# For x of dtype D and a real threshold t: x > t  <=>  x > floor_D(t),  x >= t  <=>  x >= ceil_D(t),
# x < t  <=>  x < ceil_D(t),  x <= t  <=>  x <= floor_D(t). Both sides are then exact in D.
def _gt(x: torch.Tensor, t: float) -> torch.Tensor:
    return x > _floor_ceil_of(t, x.dtype)[0]


def _ge(x: torch.Tensor, t: float) -> torch.Tensor:
    return x >= _floor_ceil_of(t, x.dtype)[1]


def _lt(x: torch.Tensor, t: float) -> torch.Tensor:
    return x < _floor_ceil_of(t, x.dtype)[1]


def _le(x: torch.Tensor, t: float) -> torch.Tensor:
    return x <= _floor_ceil_of(t, x.dtype)[0]


def hopper(next_obs: torch.Tensor) -> torch.Tensor:
    """Hopper-v5 ``not is_healthy``: healthy iff 0.7 < z < inf, -0.2 < angle < 0.2, and -100 < s < 100
    for every s in ``obs[1:]`` (v5's ``healthy_state_range`` on ``state_vector()[2:]``).

    obs[0] is z (qpos[1]), obs[1] the torso angle (qpos[2]). The official MBPO rule applies ``abs`` to a
    boolean and so never checks the lower bound -100; v5 checks both, as does this. Not observable: the
    env checks the *unclipped* qvel against +-100 while the observation clips qvel to +-10, so a joint
    speed >= 100 terminates the env but not this rule (never seen on natural transitions, where |qvel|
    stays below ~40; see the tests).
    """
    z, angle, state = next_obs[..., 0], next_obs[..., 1], next_obs[..., 1:]
    healthy = (
        _gt(z, 0.7)
        & _lt(z, math.inf)
        & _gt(angle, -0.2)
        & _lt(angle, 0.2)
        & (_gt(state, -100.0) & _lt(state, 100.0)).all(dim=-1)
    )
    return ~healthy


def walker2d(next_obs: torch.Tensor) -> torch.Tensor:
    """Walker2d-v5 ``not is_healthy``: healthy iff 0.8 < z < 2.0 and -1 < angle < 1 (obs[0], obs[1]).

    Same as the official MBPO rule. v5 checks nothing else (no finiteness), so neither does this.
    """
    z, angle = next_obs[..., 0], next_obs[..., 1]
    return ~(_gt(z, 0.8) & _lt(z, 2.0) & _gt(angle, -1.0) & _lt(angle, 1.0))


def ant(next_obs: torch.Tensor) -> torch.Tensor:
    """Ant-v5 ``not is_healthy``: healthy iff the state is finite and 0.2 <= z <= 1.0 (closed, obs[0]).

    Same as the official MBPO rule. v5's finiteness test also covers the x-y position, which the
    observation omits; a non-finite position with finite velocities cannot arise (and MuJoCo resets a
    diverging simulation), so checking the observation's entries is equivalent in practice.
    """
    z = next_obs[..., 0]
    return ~(torch.isfinite(next_obs).all(dim=-1) & _ge(z, 0.2) & _le(z, 1.0))


def inverted_pendulum(next_obs: torch.Tensor) -> torch.Tensor:
    """InvertedPendulum-v5 ``terminated``: any observation entry non-finite, or |pole angle| > 0.2 (obs[1]).

    Same as the official MBPO rule; the observation is the full state (qpos, qvel), so this is exact.
    """
    return ~torch.isfinite(next_obs).all(dim=-1) | _gt(next_obs[..., 1].abs(), 0.2)


def halfcheetah(next_obs: torch.Tensor) -> torch.Tensor:
    """HalfCheetah-v5 never terminates (its episodes end only at the time limit)."""
    return torch.zeros(next_obs.shape[:-1], dtype=torch.bool, device=next_obs.device)


TERMINATION_FNS: dict[str, TerminationFn] = {
    "hopper": hopper,
    "walker2d": walker2d,
    "halfcheetah": halfcheetah,
    "ant": ant,
    "invertedpendulum": inverted_pendulum,
}


def termination_fn(env_name: str) -> TerminationFn:
    """The static termination function for a task, by short name (``hopper``) or gym id (``Hopper-v5``).

    Raises ``ValueError`` naming the allowed names for an unknown task (from `mbpo.envs.env_spec`).
    """
    return TERMINATION_FNS[env_spec(env_name).short_name]
