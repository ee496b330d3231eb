"""Every bad input stops the command with a non-zero exit and one message naming the culprit, and leaves
no half-written result: the files under the test's directory are exactly as they were before.

One table across the CLI, the config (flags, ``--set``, ``--config`` files), run directories and their
checkpoints, and aggregation.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml

from mbpo.cli import main

TRAIN = [
    "train", "--env", "invertedpendulum", "--algo", "sac", "--seed", "0", "--steps", "200", "--device", "cpu",
    "--set", "init_exploration_steps=100", "--set", "eval_every=100", "--set", "eval_episodes=1",
    "--set", "sac.hidden_sizes=[16, 16]", "--set", "sac.batch_size=32", "--quiet",
]  # fmt: skip
HEADER = "env_step,eval_return_mean,eval_return_std,eval_episodes,wall_time_s\n"
ROW = "100,5.0,0.0,1,0.1\n"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A real finished run that kept its final checkpoint."""
    out = tmp_path_factory.mktemp("finished") / "run"
    main([*TRAIN, "--out", str(out), "--set", "keep_checkpoint=true"])
    return out


def train(*extra: str, out: str = "run") -> Callable[[Path], list[str]]:
    return lambda tmp: [*TRAIN, *extra, "--out", str(tmp / out)]


def with_config(name: str) -> Callable[[Path], list[str]]:
    return lambda tmp: [*train()(tmp), "--config", str(tmp / name)]


def with_run(edit: Callable[[Path], None] | None = None) -> Callable[[Path, Path], None]:
    """Copy the finished run to ``tmp/run``, then apply ``edit`` to that copy."""

    def prepare(tmp: Path, finished: Path) -> None:
        shutil.copytree(finished, tmp / "run")
        if edit is not None:
            edit(tmp / "run")

    return prepare


def write(name: str, text: str) -> Callable[[Path, Path], None]:
    def prepare(tmp: Path, _: Path) -> None:
        (tmp / name).write_text(text)

    return prepare


def truncate_checkpoint(run: Path) -> None:
    data = (run / "checkpoint.pt").read_bytes()
    (run / "checkpoint.pt").write_bytes(data[: len(data) // 2])


def foreign_checkpoint(run: Path) -> None:
    torch.save({"weights": torch.zeros(3)}, run / "checkpoint.pt")


def only_checkpoint(run: Path) -> None:
    (run / "config.yaml").unlink()
    (run / "metrics.csv").unlink()


_HELD_LOCKS: list[int] = []  # descriptors of directories "another process" trains (kept open by the test process)


def held_by_another_process(run: Path) -> None:
    """What a second `mbpo train` finds while a first one trains this run: the run directory's lock taken."""
    fd = os.open(run, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a new open file description: the CLI's own flock conflicts with it
    _HELD_LOCKS.append(fd)


def aggregated_run(metrics: str, steps: int = 200) -> Callable[[Path, Path], None]:
    def prepare(tmp: Path, _: Path) -> None:
        run = tmp / "runs/hopper/sac/default/seed0"
        run.mkdir(parents=True)
        config = {"env": "hopper", "algo": "sac", "variant": "default", "seed": 0, "steps": steps}
        (run / "config.yaml").write_text(yaml.safe_dump(config))
        (run / "metrics.csv").write_text(metrics)

    return prepare


def aggregate(tmp: Path) -> list[str]:
    metrics = tmp / "runs/hopper/sac/default/seed0/metrics.csv"
    outputs = ["--curves", str(tmp / "curves.csv"), "--summary", str(tmp / "summary.csv")]
    return ["aggregate", str(metrics), "--final-window", "1", *outputs]


@dataclass(frozen=True)
class Case:
    argv: Callable[[Path], list[str]]
    message: tuple[str, ...]  # all must appear in the one-line message
    prepare: Callable[[Path, Path], None] | None = None


CASES = {
    # the CLI and the config
    "unknown env": Case(train("--env", "hoppr"), ("unknown env 'hoppr'", "hopper")),
    "unknown algo": Case(train("--algo", "ppo"), ("unknown algo 'ppo'", "sac, mbpo")),
    "unknown variant": Case(train("--variant", "fast"), ("unknown variant 'fast'",)),
    "zero steps": Case(train("--steps", "0"), ("steps must be a positive integer, got 0",)),
    "real_ratio above 1": Case(train("--set", "real_ratio=1.5"), ("real_ratio must lie in [0, 1], got 1.5",)),
    "more elites than networks": Case(train("--set", "model.num_elites=9"), ("num_elites=9", "num_networks=7")),
    "rollout schedule e1 < e0": Case(train("--set", "rollout_schedule=[5,2,1,3]"), ("rollout_schedule", "[5, 2,")),
    "negative rollout length": Case(train("--set", "rollout_schedule=[0,2,-1,3]"), ("rollout_schedule", "k0, k1 >= 1")),
    "negative batch size": Case(train("--set", "sac.batch_size=-4"), ("sac.batch_size must be positive, got -4",)),
    "zero checkpoint interval": Case(train("--set", "checkpoint_every=0"), ("checkpoint_every", "got 0")),
    "unknown key": Case(train("--set", "rollout_batchsize=5"), ("unknown config key 'rollout_batchsize'",)),
    "non-numeric value": Case(train("--set", "eval_every=often"), ("eval_every: expected int, got 'often'",)),
    "missing --config": Case(with_config("nope.yaml"), ("config file not found", "nope.yaml")),
    "unreadable --config": Case(
        with_config("bad.yaml"),
        ("bad.yaml: cannot read the config file",),
        write("bad.yaml", "steps: [1, 2\nseed: 3\n"),
    ),
    "--config not a mapping": Case(
        with_config("list.yaml"),
        ("list.yaml", "expected a mapping of config keys"),
        write("list.yaml", "- steps\n- 5\n"),
    ),
    "--config of another env": Case(
        with_config("walker.yaml"),
        ("walker.yaml: env is 'walker2d' but --env is 'invertedpendulum'",),
        write("walker.yaml", "env: walker2d\nrollout_schedule: [20, 150, 1, 1]\n"),
    ),
    "zero threads": Case(train("--threads", "0"), ("--threads", "must be a positive integer, got 0")),
    # run directories and checkpoints
    "--out is a file": Case(train(out="taken"), ("taken: exists and is not a directory",), write("taken", "x")),
    "corrupt checkpoint": Case(
        train(),
        ("checkpoint.pt: corrupt or truncated checkpoint", "--restart"),
        with_run(lambda run: (run / "checkpoint.pt").write_bytes(b"\x00garbage" * 100)),
    ),
    "truncated checkpoint": Case(
        train(), ("checkpoint.pt: corrupt or truncated checkpoint", "--restart"), with_run(truncate_checkpoint)
    ),
    "not a checkpoint": Case(train(), ("checkpoint.pt: not an mbpo-bench checkpoint",), with_run(foreign_checkpoint)),
    "config differs from the checkpoint's": Case(
        train("--set", "sac.lr=1e-3", "--set", "eval_episodes=2"),
        ("checkpoint.pt: the config differs", "eval_episodes: 1 → 2", "sac.lr: 0.0003 → 0.001", "--restart"),
        with_run(),
    ),
    "finished with another config": Case(
        train("--steps", "300"),
        ("this run finished with another config", "steps: 200 → 300"),
        with_run(lambda run: (run / "checkpoint.pt").unlink()),
    ),
    "run dir of another seed": Case(
        train("--seed", "1"),
        ("config.yaml: the directory holds run invertedpendulum/sac/default/seed0, not invertedpendulum/sac/default/seed1",),  # noqa: E501
        with_run(),
    ),
    "checkpoint of another algo": Case(
        train("--algo", "mbpo"),
        ("checkpoint.pt: the directory holds run invertedpendulum/sac/default/seed0, not invertedpendulum/mbpo",),
        with_run(only_checkpoint),
    ),
    "run dir being trained by another process": Case(
        train(), ("run: another process is training this run right now",), with_run(held_by_another_process)
    ),
    "unreadable config.yaml in the run dir": Case(
        train(),
        ("config.yaml: cannot read the config file",),
        with_run(lambda run: (run / "config.yaml").write_text("a: [\n")),
    ),
    # aggregation
    "empty metrics.csv": Case(aggregate, ("metrics.csv: empty",), aggregated_run("")),
    "header-only metrics.csv": Case(aggregate, ("metrics.csv: header only",), aggregated_run(HEADER)),
    "truncated metrics.csv": Case(aggregate, ("metrics.csv: truncated",), aggregated_run(HEADER + ROW + "200,6.")),
    "corrupt metrics.csv": Case(aggregate, ("metrics.csv: corrupt", "row 2"), aggregated_run(HEADER + ROW + "200,6\n")),
    "unfinished run": Case(aggregate, ("metrics.csv: last evaluation at env step 100", "incomplete"), aggregated_run(HEADER + ROW)),  # noqa: E501
}  # fmt: skip


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_fails_with_one_message_and_writes_nothing(name, tmp_path, finished_run, capsys) -> None:
    case = CASES[name]
    if case.prepare is not None:
        case.prepare(tmp_path, finished_run)
    before = tree(tmp_path)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(case.argv(tmp_path))
    code, err = exit_info.value.code, capsys.readouterr().err
    assert code not in (0, None)
    message = code if isinstance(code, str) else err.strip().splitlines()[-1]  # argparse: usage, then the error
    assert "\n" not in message and "Traceback" not in err
    for part in case.message:
        assert part in message, f"{part!r} not in {message!r}"
    assert tree(tmp_path) == before, "a refused command changed or created files"
