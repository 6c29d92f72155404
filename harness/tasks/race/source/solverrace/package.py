"""Adapter running the published `stable-solvers` package's solvers as they are.

The package's API (stable-solvers 0.1; the seed's `exponential_euler_solver` is its
old name):
  LossFunction(dataset, criterion, net, **dataloader_kwargs)  -- moves `net` to the
      meta device and sets a built-in criterion's reduction to 'none' (mutates it);
  AdaptiveGradientDescent(params, loss, lr, warmup_iters=0, warmup_factor=1.)
  ExponentialEulerSolver(params, loss, max_step_size, stiff_dim, warmup_iters=0,
      warmup_factor=1.)
  solver.step() -> report with .loss (loss at the parameters *before* the update) and
      .dt; `params` (flat, (P,)) is updated in place.
Warm-up: for step index i < warmup_iters the cap is warmup_factor·lr, afterwards lr
(a step function). Eigenpairs come from block power iteration
(`power_iteration_method`, tol 1e-4 on the change of diag(R), max_iters=1000, raising
RuntimeError beyond), warm-started from the previous step's vectors, first start from
torch.randn on the global RNG. The package exposes no work counters, so they are
counted here by wrapping LossFunction.
"""

from __future__ import annotations

import torch

from .ours import StepResult


def _counting_loss_class() -> type:
    """A LossFunction subclass counting gradient calls and passes over the data.

    Imported lazily: `stable_solvers` is an optional extra. Every pass over the data
    that is not a gradient is one block Hessian-vector product (LossHessian.forward
    iterates the dataloader once per operator application, with all columns at once).
    """
    from stable_solvers import LossFunction

    class CountingLossFunction(LossFunction):
        """stable_solvers.LossFunction that counts its work; behaviour unchanged."""

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.gradient_calls = 0
            self.data_passes = 0

        def gradient(self, params: torch.Tensor):
            self.gradient_calls += 1
            return super().gradient(params)

        def dataloader(self, device):
            self.data_passes += 1
            return super().dataloader(device)

    return CountingLossFunction


class PackageSolver:
    """One of the package's solvers, stepping on the flat parameters, with work counts."""

    def __init__(self, solver_name: str, params: torch.Tensor, dataset: torch.utils.data.TensorDataset,
                 net: torch.nn.Module, n_classes: int, max_step: float, warmup_iters: int = 0,
                 warmup_factor: float = 1.0) -> None:
        import stable_solvers

        self.loss_func = _counting_loss_class()(dataset, torch.nn.CrossEntropyLoss(), net, batch_size=len(dataset))
        self.params = params  # (P,), updated in place by the package
        if solver_name == "adaptive":
            self.block_width = 1  # the package asks for 1 eigenpair
            self.solver = stable_solvers.AdaptiveGradientDescent(
                params, self.loss_func, max_step, warmup_iters=warmup_iters, warmup_factor=warmup_factor)
        elif solver_name == "euler":
            self.block_width = n_classes  # stiff_dim + 1 eigenpairs
            self.solver = stable_solvers.ExponentialEulerSolver(
                params, self.loss_func, max_step, n_classes - 1, warmup_iters=warmup_iters,
                warmup_factor=warmup_factor)
        else:
            raise ValueError(f"unknown solver {solver_name!r}")

    def step(self) -> StepResult:
        """The package's step, plus the gradient and Hessian-vector products it used."""
        grads0, passes0 = self.loss_func.gradient_calls, self.loss_func.data_passes
        report = self.solver.step()
        grads = self.loss_func.gradient_calls - grads0
        hvps = (self.loss_func.data_passes - passes0 - grads) * self.block_width
        eigvals = getattr(report, "eigvals", None)
        if eigvals is None:
            eigvals = torch.tensor([report.sharpness])
        return StepResult(float(report.loss), grads, hvps, float(report.dt),
                          tuple(torch.as_tensor(eigvals).reshape(-1).tolist()))
