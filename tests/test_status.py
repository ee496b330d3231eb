"""`mbpo status`: the state of runs that may be half-written, read from their logs alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mbpo.analysis.status import FINISHED, IN_PROGRESS, NOT_STARTED, render_status, run_status
from mbpo.checkpoint import CHECKPOINT_NAME

HEADER = "env_step,eval_return_mean,wall_time_s\n"


def make_run(root: Path, name: str, steps: int, rows: list[tuple[int, float]], tail: str = "", ckpt: bool = False):
    run = root / name
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"steps": steps}))
    lines = "".join(f"{step},1.0,{seconds}\n" for step, seconds in rows)
    (run / "metrics.csv").write_text(HEADER + lines + tail)
    if ckpt:
        (run / CHECKPOINT_NAME).write_bytes(b"")
    return run


def test_states_steps_and_hours(tmp_path: Path) -> None:
    done = make_run(tmp_path, "hopper/sac/default/seed0", 2000, [(1000, 1800.0), (2000, 3600.0)])
    # a row being written when the status was read: the last complete row counts
    going = make_run(tmp_path, "hopper/mbpo/default/seed0", 4000, [(1000, 3600.0)], tail="2000,1.", ckpt=True)
    fresh = tmp_path / "hopper/mbpo/default/seed1"
    a, b, c = (run_status(d) for d in (done, going, fresh))
    assert (a.state, a.env_step, a.target_steps, a.hours, a.hours_left) == (FINISHED, 2000, 2000, 1.0, None)
    assert (b.state, b.env_step, b.hours, b.resumable) == (IN_PROGRESS, 1000, 1.0, True)
    assert b.hours_left == pytest.approx(3.0)  # 1 h for 1000 of 4000 steps: 3 h more at this pace
    assert (c.state, c.env_step, c.target_steps, c.hours) == (NOT_STARTED, 0, None, 0.0)
    assert run_status(fresh, planned_steps=5000).target_steps == 5000  # the workflow's plan, until it starts


def test_page_has_totals_and_a_row_per_run(tmp_path: Path) -> None:
    done = make_run(tmp_path, "ip/sac/default/seed0", 2000, [(2000, 7200.0)])
    going = make_run(tmp_path, "ip/mbpo/default/seed0", 3000, [(1000, 3600.0)], ckpt=True)
    page = render_status([run_status(done), run_status(going)], "Status", "now", root=tmp_path)
    assert "1 of 2 runs finished" in page and "Training wall-clock so far: 3.0 h" in page
    assert "need about 2.0 h more" in page
    assert "| ip/sac/default/seed0 | finished | 2,000 | 2,000 | 2.00 |  |" in page
    assert "| ip/mbpo/default/seed0 | in progress (checkpoint) | 1,000 | 3,000 | 1.00 | 2.00 |" in page
