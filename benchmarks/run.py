"""The speed suite: MBPO's cost, and side-by-side ratios against its peers, measured in one invocation.

    python -m benchmarks                 # the full suite
    python -m benchmarks --quick         # every section, smaller
    python -m benchmarks --device cuda   # the same on a GPU, with the CUDA-graph SAC update

Writes ``reports/benchmarks.md`` (and ``reports/benchmarks.json`` with every raw number) and prints the
report; progress goes to stderr. Sections: (1) MBPO's cost per 1000 Hopper env steps by buffer size,
and projected hours of full paper runs; (2) the dynamics model against mbrl-lib 0.2.0; (3) the SAC
update against stable-baselines3; (4) this checkout against the landed commit; threads; (5) GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from benchmarks import machine, report
from benchmarks.mbpo_slice import Slice, paper_k, run_slice
from benchmarks.peers import ROOT, landed_tree, mbrl_python, run_worker
from benchmarks.projection import UnitCosts, fit_epoch_seconds, paper_config, project_seconds
from benchmarks.unit_costs import env_step_costs, random_transitions

LANDED = "7f6d6d5"  # the MBPO issue's landed commit: "old" in sections 1 and 4
ENVS = ("hopper", "walker2d", "halfcheetah", "ant")
SECTIONS = ("slices", "old", "hotpaths", "mbrl", "sb3", "projection", "threads")
FITS_PER_1000 = 4  # model_train_freq = 250
EPOCHS_PER_FIT = 10.0  # assumed epochs per warm-started refit (early stopping decides; see --epochs-per-fit)
EARLY_EPOCHS_PER_FIT = 50.0  # about what refits took early in a Hopper run of this code (20-135 at 5-7k steps)


@dataclass(frozen=True)
class Settings:
    sizes: tuple[int, ...]  # real transitions in the buffer, one MBPO slice each
    slice_steps: int  # MBPO env steps per slice
    slice_fit_epochs: int  # model epochs of each slice's fit
    updates: int  # SAC updates per timed round
    fit_epochs: int  # epochs per timed fit (the first is not counted)
    rounds: int  # alternating rounds per hot-path measurement
    projection_envs: tuple[str, ...]


FULL = Settings((5000, 25_000, 50_000, 100_000), 100, 3, 100, 3, 5, ENVS)
QUICK = Settings((5000, 25_000), 20, 1, 30, 2, 3, ("hopper",))


def same_numbers(a: list[dict[str, str]], b: list[dict[str, str]]) -> bool:
    """Whether two slices logged the same rows with the same values in every column both of them log."""
    if len(a) != len(b):
        return False
    return all(all(ra[c] == rb[c] for c in ra.keys() & rb.keys()) for ra, rb in zip(a, b, strict=True))


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------- measuring


def measure_slices(settings: Settings, args: argparse.Namespace, old_tree: Path | None) -> dict[str, dict[int, Slice]]:
    """Per buffer size, a slice of this checkout and (alternating) one of the landed commit; on CUDA this
    checkout's slice is eager, like the landed commit's (the captured update gets slices of its own)."""
    out: dict[str, dict[int, Slice]] = {"new": {}, "old": {}}
    eager = ("sac.cuda_graph=false",) if args.device == "cuda" else ()
    trees = [("new", ROOT, eager)] + ([("old", old_tree, ())] if old_tree else [])
    for size in settings.sizes:
        for name, tree, overrides in trees:
            log(f"MBPO slice at {size:,} transitions: {name}")
            out[name][size] = run_slice(
                tree, size, settings.slice_steps, settings.slice_fit_epochs, args.device, args.threads,
                overrides=overrides,
            )  # fmt: skip
    return out


def worker_args(settings: Settings, args: argparse.Namespace, *extra: str) -> list[str]:
    common = ["--device", args.device, "--threads", str(args.threads), "--repeats", str(settings.rounds)]
    return [*common, "--updates", str(settings.updates), "--epochs", str(settings.fit_epochs), *extra]


def measure_mbrl(settings: Settings, args: argparse.Namespace, data: Path) -> dict:
    try:
        python = mbrl_python(log)
        log("mbrl-lib 0.2.0: fit epochs and model steps")
        extra = ["--ours", str(ROOT), "--data", str(data), "--epochs", str(settings.fit_epochs)]
        extra += ["--repeats", str(settings.rounds)]
        return run_worker(
            "mbrl_worker.py", [*extra, "--device", args.device, "--threads", str(args.threads)], python=python
        )
    except RuntimeError as err:
        return {"error": str(err)}


def sb3_installed() -> bool:
    try:
        import stable_baselines3  # noqa: F401
    except ImportError:
        return False
    return True


def measure_threads(settings: Settings, args: argparse.Namespace, data: Path) -> dict | None:
    """SAC updates per second: 1 process x 1 thread, 1 process x all cores, all cores x 1-thread processes."""
    cores = machine.usable_cores()
    if cores < 2:
        return None
    base = ["--tree", f"new={ROOT}", "--data", str(data), "--what", "sac", "--device", args.device]
    base += ["--updates", str(settings.updates), "--repeats", str(settings.rounds)]
    one = run_worker("hotpaths.py", [*base, "--threads", "1"])["sac_update"]["new"]["median_s"]
    many = run_worker("hotpaths.py", [*base, "--threads", str(cores)])["sac_update"]["new"]["median_s"]
    with tempfile.TemporaryDirectory(prefix="bench-threads-") as tmp:
        outs = [Path(tmp) / f"{i}.json" for i in range(cores)]
        env = {**os.environ, "WANDB_MODE": "disabled"}
        script = str(ROOT / "benchmarks" / "hotpaths.py")
        procs = [
            subprocess.Popen([sys.executable, script, *base, "--threads", "1", "--out", str(o)], cwd=ROOT, env=env)
            for o in outs
        ]
        if any(p.wait() for p in procs):
            raise RuntimeError("a side-by-side hotpaths worker failed")
        side = [json.loads(o.read_text())["sac_update"]["new"]["median_s"] for o in outs]
    return {"cores": cores, "one_thread": one, "all_threads": many, "side_by_side": side}


def unit_costs(hot: dict, env_costs: dict[str, float], overhead_per_step: float, side: str = "new") -> UnitCosts:
    """One side's unit costs from a hot-path worker's result (``side``: which tree)."""
    fit = hot["fit_epoch"][side]
    train_steps = -(-fit["n_train"] // 256)
    return UnitCosts(
        sac_update=hot["sac_update"][side]["median_s"],
        train_step=(fit["median_s"] - fit["holdout_s"]) / train_steps,
        holdout_per_row=fit["holdout_s"] / fit["n_holdout"],
        rollout_step=hot["rollout_step"][side]["median_s"],
        policy_env_step=env_costs["policy_env_step"],
        random_env_step=env_costs["random_env_step"],
        eval_env_step=env_costs["eval_env_step"],
        overhead_per_step=overhead_per_step,
    )


# ----------------------------------------------------------------------------------------------- reporting


def per_1000(s: Slice, epochs_per_fit: float, eval_s: float) -> dict[str, float]:
    """Seconds per 1000 env steps by phase, scaled from one slice (see the report's Method)."""
    scale = 1000 / s.steps
    return {
        "sac": s.seconds["policy"] * scale,
        "fit": FITS_PER_1000 * epochs_per_fit * s.seconds["model"] / s.epochs,
        "rollout": FITS_PER_1000 * s.seconds["rollout"],
        "env": s.seconds["env"] * scale,
        "eval": eval_s,
        "overhead": s.overhead * scale,
    }


def slices_section(
    slices: dict[str, dict[int, Slice]], settings: Settings, epochs_per_fit: float, eval_s: float
) -> str:
    rows = []
    for size, s in slices["new"].items():
        cost = per_1000(s, epochs_per_fit, eval_s)
        total = sum(cost.values())
        row = [
            f"{size:,}",
            f"{report.seconds(cost['sac'])} ({report.share(cost['sac'], total)})",
            f"{report.seconds(cost['fit'])} ({report.seconds(s.seconds['model'] / s.epochs)}/epoch)",
            f"{report.seconds(cost['rollout'])} (k = {s.k})",
            report.seconds(cost["env"]),
            report.seconds(cost["eval"]),
            f"{report.seconds(cost['overhead'])} ({report.share(cost['overhead'], total)})",
            f"**{report.seconds(total)}**",
        ]
        if size in slices["old"]:
            old_total = sum(per_1000(slices["old"][size], epochs_per_fit, eval_s).values())
            row += [report.seconds(old_total), f"**{report.ratio(old_total, total)}**"]
        rows.append(row)
    header = ["real transitions", "SAC updates", "model fit", "rollouts", "env", "eval", "overhead", "total"]
    if slices["old"]:
        header += [f"total, {LANDED}", "speed-up"]
    text = (
        "Seconds per 1000 env steps at the paper preset (G = 20, 100k branches, 7×4×200 ensemble, 2×256 SAC), "
        f"by real transitions in the buffer, scaled from one slice of a real run each ({settings.slice_steps} "
        f"MBPO steps = {20 * settings.slice_steps} SAC updates, one fit, one round of rollouts at the preset's "
        f"k; model fit assumes {epochs_per_fit:g} epochs per refit; see Method).\n\n" + report.table(header, rows)
    )
    if slices["old"]:
        same = all(same_numbers(slices["new"][size].metrics, s.metrics) for size, s in slices["old"].items())
        verdict = "**identical** to" if same else "**different** from"
        text += (
            f"\n\nEvery non-timing metric of every slice is {verdict} the landed commit's (in every column both "
            "log; later versions added columns such as `eval/warmup` and `guard/*`). The two slices of a row "
            "are separate processes, one after the other: on a busy machine their ratio is noise (compare the load "
            "average above); section 4 rebuilds it from measurements that alternate in one process."
        )
    return text


def hot_table(rows: list[tuple[str, dict, dict]], theirs: str) -> str:
    body = [
        [
            name,
            report.seconds(ours["median_s"]),
            report.seconds(other["median_s"]),
            f"**{report.ratio(other['median_s'], ours['median_s'])}**",
            report.ratio(other["cpu_s"], ours["cpu_s"]),
        ]
        for name, ours, other in rows
    ]
    return report.table(["", "ours", theirs, "ours faster by (wall)", "(CPU time)"], body)


def projection_section(projection: dict[str, dict], epochs_per_fit: float, threads: int, graphed: bool) -> str:
    """Hours per phase; the model fit is linear in the epochs per refit, so it is given per epoch too."""
    rows = []
    for env, p in projection.items():
        sec = p["seconds"]
        total = sum(sec.values())
        steps = paper_config(env).steps
        rows.append(
            [
                env,
                f"{steps:,}",
                f"{sec['sac'] / 3600:.1f} h",
                f"{sec['rollout'] / 3600:.1f} h",
                f"{(sec['env'] + sec['eval'] + sec['overhead']) / 3600:.1f} h",
                f"{sec['fit'] / 3600:.1f} h ({sec['fit'] / epochs_per_fit / 3600:.2f} h per epoch)",
                f"**{total / 3600:.1f} h**",
                f"{steps / total:.1f}",
                f"{(total + (EARLY_EPOCHS_PER_FIT - epochs_per_fit) * sec['fit'] / epochs_per_fit) / 3600:.1f} h",
            ]
        )
    header = ["env", "steps", "SAC updates", "rollouts", "env + eval + overhead", "model fit", "total", "env steps/s"]
    header += [f"total at {EARLY_EPOCHS_PER_FIT:g} epochs/refit"]
    graph = ", the SAC update captured as a CUDA graph (the default on CUDA)" if graphed else ""
    return (
        f"### Projected full paper runs on this machine ({threads} thread(s) per run, {epochs_per_fit:g} epochs per "
        f"refit{graph})\n\nThe model fit grows linearly with the epochs per refit (set by early stopping, not measured "
        "here): each epoch per refit adds the hours in brackets. Early in a Hopper run of this code, refits took "
        f"20-135 epochs, hence the last column.\n\n" + report.table(header, rows)
    )


def modelled_section(
    hot: dict, sizes: tuple[int, ...], env_costs: dict[str, float], eval_s: float, epochs: float
) -> str:
    """Seconds per 1000 Hopper steps per side, rebuilt from the alternating hot-path measurements."""
    rows = []
    for size in sizes:
        k = paper_k(size)
        totals = {}
        for side in ("new", "old"):
            costs = unit_costs(
                {path: {"new": hot[path][side]} for path in hot if isinstance(hot[path], dict) and side in hot[path]},
                env_costs,
                0.0,
            )
            totals[side] = (
                1000 * (20 * costs.sac_update + costs.policy_env_step)
                + FITS_PER_1000 * (epochs * fit_epoch_seconds(costs, size) + k * costs.rollout_step)
                + eval_s
            )
        rows.append(
            [
                f"{size:,}",
                f"k = {k}",
                report.seconds(totals["new"]),
                report.seconds(totals["old"]),
                f"**{report.ratio(totals['old'], totals['new'])}**",
            ]
        )
    return (
        f"Per 1000 Hopper env steps, from these measurements (G = 20 updates, 4 refits of {epochs:g} epochs at that "
        "buffer size, 4 rounds of rollouts of length k, env steps, evaluation):\n\n"
        + report.table(["real transitions", "rollouts", "this checkout", LANDED, "speed-up"], rows)
    )


def threads_section(t: dict | None) -> str:
    if t is None:
        return "Skipped: this process may use only 1 core."
    c = t["cores"]
    rows = [
        ["1 process × 1 thread", report.seconds(t["one_thread"]), f"{1 / t['one_thread']:.0f}"],
        [f"1 process × {c} threads", report.seconds(t["all_threads"]), f"{1 / t['all_threads']:.0f}"],
        [
            f"{c} processes × 1 thread, side by side",
            " / ".join(report.seconds(s) for s in t["side_by_side"]),
            f"{sum(1 / s for s in t['side_by_side']):.0f} together",
        ],
    ]
    return "SAC update throughput by process layout (other load on the machine shows here first).\n\n" + report.table(
        ["layout", "one SAC update", "updates/s"], rows
    )


def gpu_section(raw: dict, hot: dict | None, slices: dict[str, dict[int, Slice]], eval_s: float, epochs: float) -> str:
    gpu = raw["machine"]["gpu"]
    if gpu is None:
        return f"Skipped: no CUDA device here (torch {raw['machine']['torch']}: torch.cuda.is_available() is False)."
    if raw["device"] != "cuda":
        return f"CUDA is available ({gpu}): `python -m benchmarks --device cuda` measures it."
    text = (
        "Every section above ran on the GPU. Section 1's slices use the eager SAC update (`--set "
        "sac.cuda_graph=false`); the projections use the update replayed as one captured CUDA graph, a run's default "
        "on CUDA."
    )
    if hot is not None and "new+graph" in hot.get("sac_update", {}):
        eager, graph = hot["sac_update"]["new"], hot["sac_update"]["new+graph"]
        text += " The captured update against the eager one:\n\n"
        text += hot_table([("one SAC update", graph, eager)], "eager")
    rows = []
    for size, graphed in slices.get("graph", {}).items():
        eager_total = sum(per_1000(slices["new"][size], epochs, eval_s).values())
        graph_total = sum(per_1000(graphed, epochs, eval_s).values())
        rows.append(
            [
                f"{size:,}",
                f"{1000 / eager_total:.1f}",
                f"{1000 / graph_total:.1f}",
                report.ratio(eager_total, graph_total),
            ]
        )
    if rows:
        text += (
            f"\n\nHopper MBPO env steps per second at the paper preset ({epochs:g} epochs per refit; "
            "target ≥ 35, i.e. 125k steps in under an hour):\n\n"
            + report.table(["real transitions", "eager", "CUDA graph", "speed-up"], rows)
        )
    return text


def mbrl_section(mbrl: dict, hot: dict | None) -> str:
    if "error" in mbrl:
        return "Skipped: " + mbrl["error"]
    ours, theirs = mbrl["ours"], mbrl["mbrl"]
    text = (
        "The same 25,000 real Hopper transitions (20,000 train, 5,000 validation) and sizes (7 members, 4×200 SiLU, "
        "batch 256 per member, 5 elites, 100k branches). mbrl-lib's `GaussianMLP` + `OneDTransitionRewardModel` + "
        "`ModelTrainer` + `ModelEnv` and our model alternate in one process of mbrl-lib's venv (same torch "
        "build).\n\n"
        + hot_table(
            [
                ("one fit epoch (train steps + validation)", ours["fit_epoch"], theirs["fit_epoch"]),
                ("one 100k-branch model step (ensemble + termination)", ours["model_step"], theirs["model_step"]),
            ],
            "mbrl-lib",
        )
    )
    if hot is not None:
        text += (
            "\n\nOur whole rollout step (policy + ensemble + termination, 100k branches): "
            f"{report.seconds(hot['rollout_step']['new']['median_s'])}."
        )
    return text


def header(raw: dict) -> str:
    info = raw["machine"]
    rows = [
        ["CPU", f"{info['cpu']} ({info['usable_cores']} usable cores of {info['logical_cpus']})"],
        ["threads per process", info["threads"]],
        ["GPU", info["gpu"] or "none"],
        ["device", raw["device"]],
        ["python / torch", f"{info['python']} / {info['torch']}"],
        ["gymnasium / mujoco", f"{info['gymnasium']} / {info['mujoco']}"],
        ["load average (1, 5, 15 min) before → after", f"{info['load_before']} → {info['load_after']}"],
    ]
    return "\n".join(
        [
            "# mbpo-bench speed report",
            "",
            f"`{raw['command']}` at git {info['git']}, {raw['time']}, {info['suite_seconds']:.0f} s.",
            "",
            report.table(["machine", ""], rows),
            "",
            "Ratios compare measurements of this one invocation: the hot paths alternate between the sides "
            "round by round in one process, so a busy machine slows both alike. 'wall' is the median "
            "wall-clock time over rounds; 'CPU time' the median process CPU seconds.",
        ]
    )


def method(settings: Settings, baseline: str, epochs_per_fit: float) -> str:
    return f"""## Method

- **Slices (section 1).** `mbpo train --env hopper --algo mbpo` of this checkout (and of `{baseline}`,
  exported with `git archive`, on `PYTHONPATH`) takes N uniformly random warm-up steps (real Hopper
  transitions fill the buffer), then {settings.slice_steps} MBPO steps: one model fit (from scratch, capped at
  {settings.slice_fit_epochs} epoch(s)), one round of 100k branched rollouts at the preset's k for that buffer
  size, G = 20 SAC updates per step (batch sampling included), one evaluation. Phases are the loop's own
  `time/*` clocks in `metrics.csv`; overhead is the slice's wall time minus all of them. Per 1000 env steps:
  SAC updates, env steps and overhead × 1000/{settings.slice_steps}; model fit = 4 refits × {epochs_per_fit:g}
  epochs × (fit seconds / epochs run); rollouts = 4 × the measured round; eval = 5 full-length episodes of the
  deterministic policy at the measured cost per step (an upper bound: early policies fall sooner).
- **Epochs per refit** are decided by early stopping (at least 6); {epochs_per_fit:g} is an assumption
  (`--epochs-per-fit`), the one number here that is not measured; fit costs scale linearly with it.
- **Hot paths (sections 2-4)**: `benchmarks/hotpaths.py` imports this checkout's and the landed commit's
  `mbpo` side by side (and stable-baselines3) and alternates between them for {settings.rounds} rounds on
  25,000 real Hopper transitions of a random policy. SAC update = batch sampling + one update ({settings.updates}
  per round); fit epoch = the gap between consecutive epoch ends from the fit's per-epoch callback (the first
  epoch, with set-up, is not counted; {settings.fit_epochs} epochs per fit); model step = each branch's elite
  drawn, the ensemble step and the termination rule for 100k branches; rollout step = the same with the policy
  (`branched_rollout`, k = 1). mbrl-lib runs `benchmarks/mbrl_worker.py` in its own venv (see `benchmarks/peers.py`
  for how it is installed) on the same data, right after.
- **Projections** sum measured unit costs over a full run's schedule (a refit every 250 steps on the data it
  sees, the preset's k per epoch, G, evaluations): `benchmarks/projection.py`. Envs other than Hopper use noise
  inputs of their sizes for the network timings and their real envs for env steps."""


# ----------------------------------------------------------------------------------------------- main


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, Settings, set[str]]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every section, smaller sizes")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1)")
    parser.add_argument("--sizes", help="comma-separated buffer sizes for the MBPO slices")
    parser.add_argument("--baseline", default=LANDED, help=f"git ref of the old code (default {LANDED})")
    parser.add_argument(
        "--epochs-per-fit", type=float, help=f"assumed model epochs per refit (default {EPOCHS_PER_FIT:g})"
    )
    parser.add_argument("--render", type=Path, help="re-render the report of a saved .json instead of measuring")
    parser.add_argument("--skip", default="", help=f"comma-separated sections to skip: {', '.join(SECTIONS)}")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "benchmarks.md")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.sizes:
        settings = replace(settings, sizes=tuple(int(s) for s in args.sizes.split(",")))
    skip = {s for s in args.skip.split(",") if s}
    if skip - set(SECTIONS):
        parser.error(f"unknown sections {sorted(skip - set(SECTIONS))}; allowed: {', '.join(SECTIONS)}")
    if args.device == "cuda" and not torch.cuda.is_available() and not args.render:
        parser.error("--device cuda, but torch.cuda.is_available() is False here")
    return args, settings, skip


def measure(args: argparse.Namespace, settings: Settings, skip: set[str], argv: list[str] | None) -> dict:
    """Run every measurement; returns the raw numbers (what ``reports/benchmarks.json`` holds)."""
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    device = torch.device(args.device)
    command = shlex.join(["python", "-m", "benchmarks", *(sys.argv[1:] if argv is None else argv)])
    raw: dict = {
        "machine": machine.describe(args.threads),
        "command": command,
        "time": time.strftime("%Y-%m-%d %H:%M %Z"),
    }
    raw |= {"settings": asdict(settings), "device": args.device, "baseline": args.baseline}

    log("real Hopper transitions of a random policy (cached in .bench-cache/)")
    data = random_transitions("hopper", 25_000)
    raw["env_costs"] = {"hopper": env_step_costs("hopper", 500, device)}

    slices: dict[str, dict[int, Slice]] = {"new": {}, "old": {}}
    # Skipping "old" needs no git history (a copied tree, e.g. on a GPU machine, has none).
    with nullcontext() if "old" in skip else landed_tree(args.baseline) as old:
        if "slices" not in skip:
            slices = measure_slices(settings, args, old)
            if args.device == "cuda":  # the captured SAC update on the same slices
                for size in settings.sizes:
                    log(f"MBPO slice at {size:,} transitions: new, CUDA graph")
                    slices.setdefault("graph", {})[size] = run_slice(
                        ROOT, size, settings.slice_steps, settings.slice_fit_epochs, "cuda", args.threads,
                        overrides=("sac.cuda_graph=true",),
                    )  # fmt: skip
        raw["slices"] = {k: {n: asdict(s) for n, s in v.items()} for k, v in slices.items()}
        if "hotpaths" not in skip:
            trees = ["--tree", f"new={ROOT}"] + (["--tree", f"old={old}"] if old else [])
            sb3 = ["--sb3"] if "sb3" not in skip and sb3_installed() else []
            log(f"hot paths, alternating: {' '.join(trees[1::2])} {'sb3' * bool(sb3)}")
            raw["hotpaths"] = run_worker(
                "hotpaths.py", [*trees, *sb3, "--data", str(data), *worker_args(settings, args)]
            )
    if "sb3" in raw.get("hotpaths", {}).get("sac_update", {}):
        import stable_baselines3

        raw["sb3_version"] = stable_baselines3.__version__
    if "mbrl" not in skip:
        raw["mbrl"] = measure_mbrl(settings, args, data)
    if "projection" not in skip and "hotpaths" in raw:
        raw["projection_hot"] = {"hopper": raw["hotpaths"]}
        for env in settings.projection_envs:
            if env != "hopper":
                log(f"projection: unit costs of {env}")
                tree = ["--tree", f"new={ROOT}", "--env", env]
                raw["projection_hot"][env] = run_worker("hotpaths.py", [*tree, *worker_args(settings, args)])
                raw["env_costs"][env] = env_step_costs(env, 500, device)
    if "threads" not in skip:
        log("threads: process layouts")
        raw["threads"] = measure_threads(settings, args, data)
    raw["machine"]["load_after"] = machine.load_average()
    raw["machine"]["suite_seconds"] = round(time.perf_counter() - started, 1)
    return raw


def render(raw: dict, epochs_per_fit: float) -> str:
    """The markdown report of a ``measure`` result, at ``epochs_per_fit`` epochs per refit."""
    settings = Settings(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw["settings"].items()})
    slices = {k: {int(n): Slice(**s) for n, s in v.items()} for k, v in raw["slices"].items()}
    slices.setdefault("new", {})
    slices.setdefault("old", {})
    hot, mbrl, baseline = raw.get("hotpaths"), raw.get("mbrl"), raw["baseline"]
    env_costs = raw["env_costs"]
    eval_s = 5 * 1000 * env_costs["hopper"]["eval_env_step"]  # 5 full-length episodes per 1000 env steps
    sections = []
    overhead_per_step = 0.0
    if slices["new"]:
        sections.append(
            "## 1. MBPO cost per 1000 Hopper env steps\n\n" + slices_section(slices, settings, epochs_per_fit, eval_s)
        )
        overhead_per_step = statistics.median(s.overhead / s.steps for s in slices["new"].values())
    if "projection_hot" in raw:
        projection = {}
        for env, env_hot in raw["projection_hot"].items():
            costs = unit_costs(env_hot, env_costs[env], overhead_per_step)
            if "new+graph" in env_hot["sac_update"]:  # on CUDA a run's default update is the captured one
                costs = replace(costs, sac_update=env_hot["sac_update"]["new+graph"]["median_s"])
            projection[env] = {"seconds": project_seconds(env, costs, epochs_per_fit)}
        graphed = any("new+graph" in h["sac_update"] for h in raw["projection_hot"].values())
        sections.append(projection_section(projection, epochs_per_fit, raw["machine"]["threads"], graphed))
    if mbrl is not None:
        sections.append("## 2. Dynamics model vs mbrl-lib 0.2.0\n\n" + mbrl_section(mbrl, hot))
    if hot is not None and "sb3" in hot["sac_update"]:
        sections.append(
            f"## 3. SAC update vs stable-baselines3 {raw['sb3_version']}\n\n"
            "One gradient step including batch sampling, at identical sizes (2×256 ReLU, batch 256, Hopper, learned "
            "temperature, Polyak every step), from a buffer of the same real transitions, alternating in one "
            "process. SB3's updates are its own `SAC.train(gradient_steps=N)` per round, with N as ours.\n\n"
            + hot_table([("one SAC update", hot["sac_update"]["new"], hot["sac_update"]["sb3"])], "SB3")
        )
    if hot is not None and "old" in hot["sac_update"]:
        sections.append(
            f"## 4. This checkout vs the landed commit {baseline}\n\n"
            "Both trees' `mbpo` imported side by side, alternating on the same data.\n\n"
            + hot_table(
                [
                    ("one SAC update", hot["sac_update"]["new"], hot["sac_update"]["old"]),
                    ("one fit epoch (20k train, 5k holdout)", hot["fit_epoch"]["new"], hot["fit_epoch"]["old"]),
                    ("one 100k-branch model step", hot["model_step"]["new"], hot["model_step"]["old"]),
                    ("one 100k-branch rollout step", hot["rollout_step"]["new"], hot["rollout_step"]["old"]),
                ],
                baseline,
            )
            + "\n\n"
            + modelled_section(hot, settings.sizes, env_costs["hopper"], eval_s, epochs_per_fit)
        )
    if "threads" in raw:
        sections.append("## Threads\n\n" + threads_section(raw["threads"]))
    sections.append("## 5. GPU\n\n" + gpu_section(raw, hot, slices, eval_s, epochs_per_fit))
    return "\n\n".join([header(raw), *sections, method(settings, baseline, epochs_per_fit)]) + "\n"


def main(argv: list[str] | None = None) -> None:
    args, settings, skip = parse(argv)
    if args.render:
        raw = json.loads(args.render.read_text())
        epochs = args.epochs_per_fit if args.epochs_per_fit is not None else raw["epochs_per_fit"]
    else:
        raw = measure(args, settings, skip, argv)
        epochs = args.epochs_per_fit if args.epochs_per_fit is not None else EPOCHS_PER_FIT
        raw["epochs_per_fit"] = epochs
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(raw, indent=1, default=str))
    text = render(raw, epochs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    log(f"wrote {args.out}" + ("" if args.render else " (and .json)"))


if __name__ == "__main__":
    main()
