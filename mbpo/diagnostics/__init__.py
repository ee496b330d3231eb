"""Model diagnostics for MBPO: where does the learned model stop being trustworthy?

Measured on held-out real trajectories during a run (off by default; ``--set diagnostics.every=N``):
compounding error vs rollout length k (`compounding`), the rollout length k* that minimises the
branched-rollout bound of the paper's Theorem 4.3 (`bound`, `policy_shift`), and a direct k-step model as
a comparator (`multistep`). `monitor.ModelDiagnostics` is the loop's hook; `report` turns many runs into
``reports/model_error.md`` and its figures (``python -m mbpo.diagnostics report``).

This ``__init__`` imports nothing, so that `mbpo.config` can import `mbpo.diagnostics.config` cheaply.
"""
