"""MBPO's ablations as registry variants: each changes exactly the keys it documents, the CLI lists them
as the README does, and bad names or λ values stop `mbpo train` with one line, before any work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mbpo.cli import main, variant_lines
from mbpo.config import resolve
from mbpo.presets import PRESETS
from mbpo.schedule import rollout_lengths
from mbpo.variants import variants_for

ROOT = Path(__file__).resolve().parents[1]
ABLATIONS = [name for name in variants_for("mbpo") if name != "default"]
# What each ablation is documented to set (README, `mbpo variants`): exactly these keys and values.
DOCUMENTED = {
    "penalty": {"rollout_penalty": 1.0},
    "penalty-0.5": {"rollout_penalty": 0.5},
    "penalty-2": {"rollout_penalty": 2.0},
    "learned-termination": {"rollout_termination": "learned"},
    "no-termination": {"rollout_termination": "none"},
    "fixed-k1": {"rollout_fixed_length": 1},
    "fixed-kmax": {"rollout_fixed_length": "max"},
}


def flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        out |= flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value}
    return out


def test_the_ablations_are_the_documented_ones() -> None:
    assert list(DOCUMENTED) == ABLATIONS


@pytest.mark.parametrize("env", sorted(PRESETS))
@pytest.mark.parametrize("variant", list(DOCUMENTED))
def test_each_variant_differs_from_default_in_exactly_its_documented_keys(env: str, variant: str) -> None:
    default = flat(resolve({"env": env, "algo": "mbpo"}).to_dict())
    resolved = flat(resolve({"env": env, "algo": "mbpo", "variant": variant}).to_dict())
    changed = {k: v for k, v in resolved.items() if default[k] != v}
    assert changed == {"variant": variant, **DOCUMENTED[variant]}


def test_fixed_kmax_is_the_presets_largest_k_from_the_first_epoch() -> None:
    for env, preset in PRESETS.items():
        cfg = resolve({"env": env, "algo": "mbpo", "variant": "fixed-kmax"}).to_dict()
        assert set(rollout_lengths(cfg)) == {max(preset["rollout_schedule"][2:])}
    hopper = resolve({"env": "hopper", "algo": "mbpo"}).to_dict()
    assert max(rollout_lengths(hopper)) == 11 < 15  # default never reaches the preset's k = 15 in 125k steps


def test_mbpo_variants_prints_one_line_each_and_the_readme_has_the_same_table(capsys) -> None:
    main(["variants"])
    printed = capsys.readouterr().out.splitlines()
    assert printed == variant_lines()
    assert len(printed) == 2 + sum(len(variants_for(algo)) for algo in ("mbpo", "sac"))
    readme = (ROOT / "README.md").read_text().splitlines()
    missing = [line for line in printed if line not in readme]
    assert not missing, f"README.md lacks these lines of `mbpo variants`: {missing}"


TRAIN = [
    "train", "--env", "invertedpendulum", "--algo", "mbpo", "--steps", "200", "--device", "cpu", "--quiet",
    "--set", "init_exploration_steps=100", "--set", "eval_every=100",
]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--variant", "penalty-3"], "unknown variant 'penalty-3' for algo 'mbpo'; allowed: default, penalty,"),
        (["--variant", "penalty", "--set", "rollout_penalty=-1"], "rollout_penalty (λ) must be a finite number >= 0"),
        (["--set", "rollout_penalty=.nan"], "rollout_penalty (λ) must be a finite number >= 0, got nan"),
        (["--set", "rollout_penalty=inf"], "rollout_penalty (λ) must be a finite number >= 0, got inf"),
        (["--set", "rollout_termination=learnt"], "unknown rollout_termination 'learnt'; allowed: static, learned"),
    ],
)
def test_bad_ablation_input_stops_before_any_work(tmp_path, capsys, extra: list[str], message: str) -> None:
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_:
        main([*TRAIN, *extra, "--out", str(out)])
    assert exit_.value.code != 0 and message in str(exit_.value.code)
    assert "\n" not in str(exit_.value.code)  # one line
    assert not out.exists()
