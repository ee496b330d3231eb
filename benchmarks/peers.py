"""Where the comparisons run: the landed commit's tree, mbrl-lib's own venv, and the worker processes.

* The landed code is exported with ``git archive <ref>`` into a temporary directory (no worktree entry is
  left behind) and imported from there through ``PYTHONPATH``, with this venv's packages.
* mbrl-lib 0.2.0 pins ``hydra-core==1.0.3`` (which fails to import on Python 3.11), ``omegaconf<2.1`` and
  ``gymnasium==0.26.3``, so it cannot share our venv. It gets its own, ``.bench-venvs/mbrl/``, made on
  first use: the same torch as ours, then ``mbrl==0.2.0`` without its dependencies, then only what its
  model code imports, with ``hydra-core==1.3.2 omegaconf==2.3.0`` instead of its broken pins. Its model,
  trainer and ``ModelEnv`` run there (its envs do not, on mujoco 3+; they are not needed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
MBRL_VENV = ROOT / ".bench-venvs" / "mbrl"
MBRL_PACKAGES = ["mbrl==0.2.0"]
MBRL_DEPENDENCIES = ["hydra-core==1.3.2", "omegaconf==2.3.0", "gymnasium==0.26.3", "termcolor", "tqdm", "numpy<2"]


@contextmanager
def landed_tree(ref: str):
    """A temporary directory holding the files of commit ``ref`` (deleted afterwards)."""
    archive = subprocess.run(["git", "archive", "--format=tar", ref], cwd=ROOT, capture_output=True, check=True)
    with tempfile.TemporaryDirectory(prefix=f"mbpo-{ref}-") as tmp:
        with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        yield Path(tmp)


def worker_env(tree: Path) -> dict[str, str]:
    """This environment with ``tree`` first on the import path (kept: what ``PYTHONPATH`` already held) and
    W&B off."""
    path = os.pathsep.join(p for p in (str(tree), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "WANDB_MODE": "disabled"}


def run_worker(script: str, args: list[str], tree: Path = ROOT, python: str = sys.executable) -> dict:
    """Run ``benchmarks/<script>`` with ``tree`` first on the import path; returns the JSON it writes."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        out = Path(tmp) / "result.json"
        env = worker_env(tree)
        command = [python, str(ROOT / "benchmarks" / script), *args, "--out", str(out)]
        done = subprocess.run(command, env=env, cwd=tree, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{script} failed ({' '.join(command)}):\n{done.stderr[-3000:]}")
        return json.loads(out.read_text())


def torch_requirement() -> str:
    """The torch our venv runs (``2.13.0+cpu`` -> ``torch==2.13.0``), so both sides use the same kernels."""
    return "torch==" + torch.__version__.split("+")[0]


def mbrl_python(log=print) -> str:
    """The interpreter of mbrl-lib's venv, creating the venv on first use (a minute or two)."""
    python = MBRL_VENV / "bin" / "python"
    if python.exists():
        return str(python)
    log(f"creating {MBRL_VENV.relative_to(ROOT)} for mbrl-lib 0.2.0 (once) ...")
    steps = [
        [sys.executable, "-m", "venv", str(MBRL_VENV)],
        [str(python), "-m", "pip", "install", "--quiet", torch_requirement()],
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", *MBRL_PACKAGES],
        [str(python), "-m", "pip", "install", "--quiet", *MBRL_DEPENDENCIES],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"installing mbrl-lib failed at {' '.join(step)}:\n{done.stderr[-2000:]}")
    return str(python)
