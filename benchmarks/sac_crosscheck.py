"""Does our SAC learn as stable-baselines3's does, at the same settings, task and evaluation protocol?

A baseline that learns slower than it should inflates every MBPO-vs-SAC ratio. Our published-SAC runs on
Hopper-v5 trail the public SAC curves (Tianshou, erl_lib: other env versions and settings), so this trains
SB3's SAC with the settings a committed run recorded (its ``config.yaml``: learning rate, batch, buffer,
random warm-up, updates per step, temperature start and target entropy, network) on the same task
(`mbpo.envs.make_env`), evaluated as our runs are (every ``eval_every`` env steps, ``eval_episodes``
deterministic episodes on a separate env), and writes a table of both beside the reference curves.

    pip install -e ".[bench]"
    python -m benchmarks.sac_crosscheck train --like reports/cpu/results/runs/hopper/sac/default/seed0/config.yaml \\
        --steps 50000 --seeds 0 1 2 --out reports/cpu/sac_crosscheck/sb3
    python -m benchmarks.sac_crosscheck report --ours reports/cpu/results/runs/hopper/sac/default \\
        --theirs reports/cpu/sac_crosscheck/sb3 --out reports/cpu/sac_crosscheck/README.md

Training is one thread, like the evidence runs, and takes about as long as our SAC (do not run it beside them).
"""

from __future__ import annotations

import argparse
import csv
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from mbpo.analysis.reference import SOURCES, STEP_SOURCES, format_return, format_steps, load_reference, reference_value
from mbpo.envs import env_label, make_env

WINDOW = 5  # evaluations averaged at each compared step: the evidence table's final window
COLUMNS = ["env_step", "eval_return_mean", "eval_return_std", "eval_episodes", "wall_time_s"]


def sb3_settings(like: dict) -> dict:
    """SB3 ``SAC`` keyword arguments that match the settings of one of our runs (its config.yaml)."""
    sac = like["sac"]
    return {
        "learning_rate": sac["lr"],
        "buffer_size": like["replay_size"],
        "learning_starts": like["init_exploration_steps"],  # uniformly random actions until then, as ours
        "batch_size": sac["batch_size"],
        "tau": sac["tau"],
        "gamma": sac["gamma"],
        "train_freq": 1,
        "gradient_steps": like["num_train_repeat"],
        "ent_coef": f"auto_{sac['init_alpha']}",
        "target_entropy": sac["target_entropy"],
        "policy_kwargs": {"net_arch": list(sac["hidden_sizes"])},
    }


def train(like_path: Path, seed: int, steps: int, out: Path) -> None:
    """One SB3 SAC run, writing ``metrics.csv`` row by row (a cut run shows how far it got)."""
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    torch.set_num_threads(1)
    like = yaml.safe_load(like_path.read_text())
    env_name, dynamics = like["env"], like.get("env_dynamics", "v5")
    settings = sb3_settings(like)
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "like": like_path.as_posix(), "env": env_label(env_name, dynamics), "seed": seed, "steps": steps,
        "eval_every": like["eval_every"], "eval_episodes": like["eval_episodes"], "sb3_settings": settings,
        "versions": {p: metadata.version(p) for p in ("stable-baselines3", "torch", "gymnasium", "mujoco")},
    }  # fmt: skip
    (out / "settings.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
    eval_env = make_env(env_name, dynamics)
    eval_env.reset(seed=seed + 1_000_003)  # a separate, separately seeded evaluation env, as ours
    log = (out / "metrics.csv").open("w", newline="")
    writer = csv.writer(log)
    writer.writerow(COLUMNS)
    started = time.perf_counter()

    class Evaluate(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % like["eval_every"] == 0:
                returns = [episode_return(self.model, eval_env) for _ in range(like["eval_episodes"])]
                elapsed = time.perf_counter() - started
                writer.writerow([self.num_timesteps, np.mean(returns), np.std(returns), len(returns), elapsed])
                log.flush()
            return True

    model = SAC("MlpPolicy", make_env(env_name, dynamics), seed=seed, device="cpu", verbose=0, **settings)
    model.learn(total_timesteps=steps, callback=Evaluate())
    log.close()


def episode_return(model, env) -> float:
    obs, _ = env.reset()
    total, done = 0.0, False
    while not done:
        action, _ = model.predict(obs, deterministic=True)
        obs, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        done = terminated or truncated
    return total


def window_means(runs: dict[str, pd.DataFrame], steps: list[int]) -> pd.DataFrame:
    """Each run's mean return over its last ``WINDOW`` evaluations up to each step: runs x steps."""
    table = {}
    for name, m in runs.items():
        table[name] = [m[m["env_step"] <= s]["eval_return_mean"].tail(WINDOW).mean() for s in steps]
    return pd.DataFrame(table, index=steps).T


def read_runs(folder: Path) -> dict[str, pd.DataFrame]:
    runs = {p.parent.name: pd.read_csv(p) for p in sorted(folder.glob("seed*/metrics.csv"))}
    if not runs:
        raise SystemExit(f"no seed*/metrics.csv under {folder}")
    return runs


def cell(values: pd.Series) -> str:
    return f"{format_return(values.mean())} [{format_return(values.min())}, {format_return(values.max())}]"


def report(ours_dir: Path, theirs_dir: Path, out: Path, every: int = 10_000) -> None:
    """A markdown table: ours and SB3's mean [min, max] over seeds at every ``every`` env steps that all
    runs reached, beside each SAC reference source; then every run's value, so nothing hides in a mean."""
    ours, theirs = read_runs(ours_dir), read_runs(theirs_dir)
    like = yaml.safe_load(sorted(theirs_dir.glob("seed*/settings.yaml"))[0].read_text())
    env = yaml.safe_load(sorted(ours_dir.glob("seed*/config.yaml"))[0].read_text())["env"]
    reached = min(int(m["env_step"].max()) for m in [*ours.values(), *theirs.values()])
    steps = list(range(every, reached + 1, every))
    ours_at, theirs_at = window_means(ours, steps), window_means(theirs, steps)
    ref = load_reference()
    # The SAC sources with a curve of this env (the step only picks the source; values come per window below).
    refs = {s: v for s in STEP_SOURCES if SOURCES[s].algo == "sac" and (v := reference_value(ref, s, env, [0]))}
    head = [
        "env steps",
        f"ours ({len(ours)} seeds)",
        f"SB3 {like['versions']['stable-baselines3']} ({len(theirs)} seeds)",
    ]
    head += [f"{v.source.label}, {v.env_id} ({v.n_seeds} seeds)" for v in refs.values()]
    settings = ", ".join(f"{k}={v!r}" for k, v in like["sb3_settings"].items())
    lines = [
        f"# Our SAC vs stable-baselines3's SAC on {like['env']}",
        "",
        f"Both at the settings of `{like['like']}` (SB3's `SAC({settings})`), one CPU thread, evaluated every "
        f"{like['eval_every']:,} env steps with {like['eval_episodes']} deterministic episodes on a separate env. "
        f"Each cell: the mean over seeds of each run's mean over its last {WINDOW} evaluations up to that step, "
        "[lowest, highest run]. Reference sources use their own settings and env versions (mbpo/reference/README.md); "
        "their cells average each seed's interpolated curve over the same steps.",
        "",
        "Regenerate: `python -m benchmarks.sac_crosscheck report` (module docstring).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---:|" * len(head),
    ]
    for s in steps:
        window = np.arange(s - (WINDOW - 1) * like["eval_every"], s + 1, like["eval_every"], dtype=float)
        row = [format_steps(s), cell(ours_at[s]), cell(theirs_at[s])]
        for source in refs:
            value = reference_value(ref, source, env, window)
            row.append(f"{format_return(value.mean)} [{format_return(value.low)}, {format_return(value.high)}]")
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "Every run:", "", "| run | " + " | ".join(format_steps(s) for s in steps) + " |"]
    lines.append("|:---|" + "---:|" * len(steps))
    for label, table in (("ours", ours_at), ("SB3", theirs_at)):
        for name, values in table.iterrows():
            lines.append(f"| {label} {name} | " + " | ".join(format_return(v) for v in values) + " |")
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="SB3 SAC runs at the settings of one of ours")
    t.add_argument("--like", type=Path, required=True, help="a run's config.yaml")
    t.add_argument("--steps", type=int, required=True)
    t.add_argument("--seeds", type=int, nargs="+", required=True)
    t.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("report", help="ours vs SB3 vs the references, as markdown")
    r.add_argument("--ours", type=Path, required=True, help="folder of our seed*/ runs")
    r.add_argument("--theirs", type=Path, required=True, help="folder of the SB3 seed*/ runs")
    r.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "train":
        for seed in args.seeds:
            train(args.like, seed, args.steps, args.out / f"seed{seed}")
    else:
        report(args.ours, args.theirs, args.out)


if __name__ == "__main__":
    main()
