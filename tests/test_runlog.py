"""The run log survives its files being deleted under a running run (W&B is disabled by conftest)."""

import csv
from pathlib import Path

import yaml

from mbpo.config import resolve
from mbpo.runlog import RunLog


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_deleted_outputs_are_rewritten_with_every_row_at_the_next_row(tmp_path: Path) -> None:
    """What a second Snakemake does to a run it failed to start: delete metrics.csv and config.yaml."""
    cfg = resolve({"env": "invertedpendulum", "algo": "sac"})
    log = RunLog(tmp_path, cfg, ())
    log.open()
    log.log({"env_step": 250, "eval_return_mean": 10.0})
    (tmp_path / "metrics.csv").unlink()
    (tmp_path / "config.yaml").unlink()
    log.log({"env_step": 500, "eval_return_mean": 20.0})
    log.log({"env_step": 750, "eval_return_mean": 30.0})
    log.close()
    assert [r["env_step"] for r in read_rows(tmp_path / "metrics.csv")] == ["250", "500", "750"]
    assert yaml.safe_load((tmp_path / "config.yaml").read_text()) == cfg.to_dict()


def test_a_log_left_alone_is_appended_to_in_place(tmp_path: Path) -> None:
    log = RunLog(tmp_path, resolve({"env": "invertedpendulum", "algo": "sac"}), ())
    log.open()
    inode = (tmp_path / "metrics.csv").stat().st_ino
    for step in (250, 500):
        log.log({"env_step": step, "eval_return_mean": 1.0})
    log.close()
    assert (tmp_path / "metrics.csv").stat().st_ino == inode
    assert [r["env_step"] for r in read_rows(tmp_path / "metrics.csv")] == ["250", "500"]
