"""Checkpoints: a run's whole state in one file, written atomically and read without pickle's risks.

A checkpoint is a nested dict of tensors and plain Python values (str, int, float, bool, None, lists,
tuples, dicts), saved with ``torch.save`` and read with ``torch.load(weights_only=True)``: loading a file
can never run code. What is not already of those types (numpy and gymnasium RNG states, MuJoCo's
``MjData``, replay buffers) is converted here, in both directions.

Writing is atomic: the state goes to a temporary file in the run directory, is flushed and fsynced, and
only then renamed over ``checkpoint.pt`` (then the directory is fsynced), so a kill at any moment leaves
either the old checkpoint or the new one, never a torn file.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
import torch
from gymnasium.envs.mujoco import MujocoEnv

from mbpo.atomic import write_atomic
from mbpo.buffer import ReplayBuffer
from mbpo.errors import UserError
from mbpo.failpoints import fault_point

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT = "mbpo-bench checkpoint"
VERSION = 2  # 2: MBPO's model buffer may be stored as the rollout rounds that rebuild it (mbpo.model_buffer)
READABLE_VERSIONS = (1, 2)  # 1 stored the model buffer's rows, which version 2 still reads
Checkpoint = dict[str, Any]

# MuJoCo's full integration state: time, qpos, qvel, act, the solver's warm start, controls, applied
# forces, mocap, user data, plugin state. Enough to integrate on exactly as the saved simulation would.
_MJ_INTEGRATION = mujoco.mjtState.mjSTATE_INTEGRATION


class CheckpointError(UserError, ValueError):
    """A checkpoint that cannot be used; the message names the file and what is wrong with it."""


def save_checkpoint(state: Checkpoint, path: Path) -> None:
    """Write ``state`` (plain types and tensors only) to ``path`` atomically."""

    def write(f) -> None:
        torch.save({"format": FORMAT, "version": VERSION, **state}, f)
        f.flush()
        fault_point("checkpoint_write")

    write_atomic(path, write)


def load_checkpoint(path: Path, mmap: bool = False) -> Checkpoint:
    """Read a checkpoint onto the CPU, refusing anything that is not an intact one of this version.

    ``mmap`` maps the tensors instead of reading them, for callers that only want its plain values.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as err:  # torch raises many types for a damaged zip / unpickling error
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(
            f"{path}: corrupt or truncated checkpoint ({reason}); pass --restart to discard it and start over"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an mbpo-bench checkpoint; pass --restart to discard it and start over")
    if state.get("version") not in READABLE_VERSIONS:
        raise CheckpointError(
            f"{path}: checkpoint format version {state.get('version')!r}, this code reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}; "
            "resume with the code that wrote it, or pass --restart to start over"
        )
    return state


# ---------------------------------------------------------------------------------------------- RNGs


def rng_state(generator: torch.Generator) -> dict[str, Any]:
    """Every process-wide random stream, and the run's own torch generator.

    ``SAC.act`` and ``SAC.update`` draw from torch's global generator; batches and rollouts from
    ``generator``; numpy's and Python's global generators are saved too, whoever uses them.
    """
    _, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    return {
        "torch": torch.get_rng_state(),
        "cuda": cuda,
        "generator": generator.get_state(),
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "python": random.getstate(),
    }


def load_rng_state(state: dict[str, Any], generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    generator.set_state(state["generator"])
    np_state = state["numpy"]
    keys = np_state["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, np_state["pos"], np_state["has_gauss"], np_state["cached_gaussian"]))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))


# ---------------------------------------------------------------------------------------------- envs


def _time_limit(env: gym.Env) -> gym.wrappers.TimeLimit | None:
    while isinstance(env, gym.Wrapper):
        if isinstance(env, gym.wrappers.TimeLimit):
            return env
        env = env.env
    return None


def env_state(env: gym.Env) -> dict[str, Any]:
    """Everything that decides a MuJoCo env's next steps and resets.

    The simulation: MuJoCo's integration state plus every fixed-size array of ``MjData``: some envs read
    derived quantities before stepping (Ant reads the torso's ``xpos``, which is as stale as the last
    step left it), so the integration state alone does not continue bit for bit. The arrays sized by the
    current constraints (``efc_*``) are recomputed by the next step before anything reads them. Then the
    reset RNG, the action space's RNG and the time limit's step counter.
    """
    sim = env.unwrapped
    if not isinstance(sim, MujocoEnv):
        raise TypeError(f"cannot checkpoint {type(sim).__name__}: only MuJoCo envs are supported")
    integration = np.empty(mujoco.mj_stateSize(sim.model, _MJ_INTEGRATION))
    mujoco.mj_getState(sim.model, sim.data, integration, _MJ_INTEGRATION)
    arrays = {}
    for name in (n for n in dir(sim.data) if not n.startswith("_")):
        value = getattr(sim.data, name)
        if isinstance(value, np.ndarray):
            arrays[name] = torch.from_numpy(np.array(value))
    time_limit = _time_limit(env)
    return {
        "integration": torch.from_numpy(integration),
        "data": arrays,
        "np_random": sim.np_random.bit_generator.state,
        "action_space": env.action_space.np_random.bit_generator.state,
        "elapsed_steps": None if time_limit is None else time_limit._elapsed_steps,
    }


def load_env_state(env: gym.Env, state: dict[str, Any]) -> None:
    """Put a freshly made (and reset) env of the same task into the saved state."""
    sim = env.unwrapped
    for name, value in state["data"].items():
        current = getattr(sim.data, name, None)
        if isinstance(current, np.ndarray) and current.shape == tuple(value.shape):
            current[...] = value.numpy()
    mujoco.mj_setState(sim.model, sim.data, state["integration"].numpy(), _MJ_INTEGRATION)
    sim.np_random.bit_generator.state = state["np_random"]
    env.action_space.np_random.bit_generator.state = state["action_space"]
    time_limit = _time_limit(env)
    if time_limit is not None:
        time_limit._elapsed_steps = state["elapsed_steps"]


# ---------------------------------------------------------------------------------------------- tensors


def to_cpu(value: Any) -> Any:
    """Tensors of a nested state moved to the CPU (a no-op for CPU tensors), containers rebuilt."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: to_cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(to_cpu(v) for v in value)
    return value


def buffer_state(buffer: ReplayBuffer) -> dict[str, Any]:
    """A replay buffer's filled part only (a 1M-capacity env buffer 10k steps in costs 10k rows)."""
    state = buffer.state_dict()
    size, capacity = state["size"], state["capacity"]
    # A slice saved as it is would drag its whole storage into the file: copy the filled rows out.
    rows = {k: (v if size == capacity else v[:size].clone()).detach().cpu() for k, v in state["storage"].items()}
    return {"capacity": capacity, "size": size, "ptr": state["ptr"], "rows": rows}


def load_buffer_state(buffer: ReplayBuffer, state: dict[str, Any]) -> None:
    capacity, size = state["capacity"], state["size"]
    storage = {}
    for name, rows in state["rows"].items():
        full = torch.zeros((capacity, *rows.shape[1:]), dtype=rows.dtype)
        full[:size] = rows
        storage[name] = full
    buffer.load_state_dict({"storage": storage, "capacity": capacity, "size": size, "ptr": state["ptr"]})
