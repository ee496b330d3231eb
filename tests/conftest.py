import pytest
import torch

# Small networks run fastest on one thread, and a busy 2-core CI box punishes oversubscription badly.
torch.set_num_threads(1)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="also run the slow learning checks")
    parser.addoption(
        "--slurm",
        action="store_true",
        help="also run the SLURM integration test, bringing up the local cluster (tests/integration/slurm/)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skips = {
        "slow": None if config.getoption("--runslow") else "slow learning check: run with --runslow",
        "slurm": None
        if config.getoption("--slurm")
        else "SLURM integration test: run with --slurm (brings up a local cluster; needs root and apt-get)",
    }
    for item in items:
        for marker, reason in skips.items():
            if reason and item.get_closest_marker(marker):  # not `in item.keywords`: that holds directory names
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def _no_wandb(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never open W&B runs (the CSV is what they check)."""
    monkeypatch.setenv("WANDB_MODE", "disabled")
