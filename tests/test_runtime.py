"""Thread configuration: a default that cannot oversubscribe, and warnings when a request might."""

from __future__ import annotations

import pytest
import torch

import mbpo.runtime as runtime
from mbpo.runtime import configure_threads


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def machine(monkeypatch):
    """Pretend to run on ``cores`` cores with a 1-minute load average of ``load``."""

    def set_machine(cores: int, load: float) -> None:
        monkeypatch.setattr(runtime.os, "sched_getaffinity", lambda pid: set(range(cores)))
        monkeypatch.setattr(runtime.os, "getloadavg", lambda: (load, load, load))

    return set_machine


def test_default_is_one_thread_whatever_the_machine(machine, capsys):
    machine(cores=64, load=0.0)
    assert configure_threads(None) == 1
    assert torch.get_num_threads() == 1
    assert capsys.readouterr().err == ""


def test_a_request_within_the_idle_cores_is_granted_silently(machine, capsys):
    machine(cores=4, load=1.0)
    assert configure_threads(2) == 2
    assert torch.get_num_threads() == 2
    assert capsys.readouterr().err == ""


def test_more_threads_than_usable_cores_warns(machine, capsys):
    machine(cores=2, load=0.0)
    assert configure_threads(3) == 3
    assert "only 2 cores" in capsys.readouterr().err


def test_more_threads_than_idle_cores_warns_with_the_load(machine, capsys):
    machine(cores=2, load=1.7)
    assert configure_threads(2) == 2
    err = capsys.readouterr().err
    assert "idle" in err and "1.7" in err


def test_one_thread_never_warns_about_load(machine, capsys):
    machine(cores=2, load=9.0)
    assert configure_threads(1) == 1
    assert capsys.readouterr().err == ""


def test_nonpositive_thread_counts_are_refused():
    with pytest.raises(ValueError, match="threads"):
        configure_threads(0)
