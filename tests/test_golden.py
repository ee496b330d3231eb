"""Numbers must not drift by accident: the fixed-seed golden runs reproduce their committed metrics exactly.

A change meant to alter training numbers regenerates the files with ``python -m tests.golden`` and says why
in its commit message.
"""

import pytest

from tests.golden import GOLDEN_RUNS, golden_path, machine_class, read_without_timing, run_golden


@pytest.mark.parametrize("name", sorted(GOLDEN_RUNS))
def test_metrics_are_bit_identical_to_the_golden_run(tmp_path, name):
    if not golden_path(name).exists():
        pytest.fail(
            f"no golden run for this machine class ({machine_class()}): write {golden_path(name).parent} with "
            "`python -m tests.golden` in a checkout of the last landed commit, on such a machine, and commit it"
        )
    expected = read_without_timing(golden_path(name))
    actual = read_without_timing(run_golden(name, tmp_path))
    assert list(actual[0]) == list(expected[0]), "metrics.csv columns changed"
    for want, got in zip(expected, actual, strict=True):
        diff = {k: (want[k], got[k]) for k in want if want[k] != got[k]}
        assert not diff, f"env_step {want['env_step']}: (golden, now) = {diff}"
