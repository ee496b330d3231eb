"""One training step captured as a CUDA graph and replayed: one launch instead of hundreds.

A SAC update on a GPU is a few hundred small kernels whose launch costs dwarf their math (the update is
launch-bound at batch 256); replaying a captured graph removes the launches. The recipe is PyTorch's
"whole-network capture" (`torch.cuda.graph`): static input tensors, a few warm-up steps on a side stream
(they create the optimizers' state and the cuBLAS workspaces), then one captured step.

The warm-up steps are real steps on the first batch, so the module's parameters, the optimizers' state
and the random generators are put back (in place: the graph records addresses) before the capture; the
run goes on as if they never happened. That matters for resume: a resumed run captures again, and warm-up
draws would shift its random stream away from the uninterrupted run's. A graphed run is the same algorithm
as an eager one; the same numbers are not promised (capturable Adam is another kernel path, and
tests/test_cuda.py compares the two to 1e-4, not bit for bit).

Requirements: CUDA tensors only; a step with static shapes and no host synchronisation; fused (or
capturable) Adam optimizers, switched to ``capturable``; optimizer state must not be *replaced* after the
capture (load checkpoints before the first step).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

WARMUP_STEPS = 3


class GraphedStep:
    """Call ``step(*inputs) -> dict of scalar tensors`` through a CUDA graph, capturing it on first use.

    Args:
        step: the eager step; it updates ``module`` through ``optimizers`` and returns detached scalars.
        module: every parameter and buffer the step changes (restored after the warm-up).
        optimizers: the step's optimizers (made capturable; their state restored after the warm-up).
    """

    def __init__(
        self,
        step: Callable[..., dict[str, Tensor]],
        module: nn.Module,
        optimizers: Sequence[torch.optim.Optimizer],
    ) -> None:
        self.step, self.module, self.optimizers = step, module, list(optimizers)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.inputs: list[Tensor] = []
        self.keys: list[str] = []
        self.stacked: Tensor | None = None

    def __call__(self, *inputs: Tensor) -> dict[str, Tensor]:
        if self.graph is None:
            self._capture(inputs)
        for static, value in zip(self.inputs, inputs, strict=True):
            static.copy_(value)
        self.graph.replay()
        return dict(zip(self.keys, self.stacked.clone().unbind(), strict=True))

    def _capture(self, inputs: Sequence[Tensor]) -> None:
        if not all(x.is_cuda for x in inputs):
            raise RuntimeError("a CUDA graph needs CUDA tensors; use the eager step on other devices")
        for optimizer in self.optimizers:
            for group in optimizer.param_groups:
                group["capturable"] = True
        self.inputs = [x.detach().clone() for x in inputs]
        before = TrainingState.take(self.module, self.optimizers)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.random.fork_rng(devices=[inputs[0].device], device_type="cuda"), torch.cuda.stream(side):
            for _ in range(WARMUP_STEPS):
                self.step(*self.inputs)
        torch.cuda.current_stream().wait_stream(side)
        before.restore(self.module, self.optimizers)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            out = self.step(*self.inputs)
            self.keys = list(out)
            self.stacked = torch.stack([out[k].reshape(()) for k in self.keys])


class TrainingState:
    """Copies of a module's tensors and its optimizers' state, to undo steps in place (addresses kept)."""

    def __init__(self, module: dict[str, Tensor], optimizers: list[dict[int, dict[str, Tensor]]]) -> None:
        self.module, self.optimizers = module, optimizers

    @classmethod
    def take(cls, module: nn.Module, optimizers: Sequence[torch.optim.Optimizer]) -> TrainingState:
        tensors = {k: v.detach().clone() for k, v in module.state_dict(keep_vars=True).items()}
        states = [
            {id(p): {k: v.clone() for k, v in opt.state[p].items() if isinstance(v, Tensor)} for p in opt.state}
            for opt in optimizers
        ]
        return cls(tensors, states)

    @torch.no_grad()
    def restore(self, module: nn.Module, optimizers: Sequence[torch.optim.Optimizer]) -> None:
        """Copy the saved values back; optimizer state created since (Adam's: all zeros at creation) is zeroed."""
        for key, value in module.state_dict(keep_vars=True).items():
            value.copy_(self.module[key])
        for opt, saved in zip(optimizers, self.optimizers, strict=True):
            for p, state in opt.state.items():
                for name, tensor in state.items():
                    if not isinstance(tensor, Tensor):
                        continue
                    if id(p) in saved:
                        tensor.copy_(saved[id(p)][name])
                    else:
                        tensor.zero_()
