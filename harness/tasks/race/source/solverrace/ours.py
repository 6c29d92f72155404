"""Our own adaptive gradient descent and exponential Euler solvers, written from the method.

Adaptive GD:      θ ← θ - h·g,  h = min(s_i·lr, 1/|λ₁|)
Exponential Euler: with the top k+1 Hessian eigenpairs (λ_m, v_m) and c = Vₖᵀg,
    h = min(s_i·max_step, 1/|λ_{k+1}|),
    θ ← θ - h·(g - Vₖc) - Σ_m min((1 - e^{-λ_m h})/λ_m, h)·c_m·v_m,
i.e. the exact gradient flow of the local quadratic model for time h along the k
stiff directions, and a plain gradient step of size h on the rest.
s_i is the warm-up scale: warmup_factor for the first warmup_iters steps, then 1 (a
step function, as `stable_solvers` does it, not a ramp).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .hessian import HessianAtPoint, top_eigenpairs

LossFn = Callable[[torch.Tensor], torch.Tensor]  # flat params (P,) -> scalar loss


@dataclass(frozen=True)
class StepResult:
    """What one step did: the loss at the parameters it started from, and its cost."""

    loss: float  # loss *before* this step's update, as stable_solvers reports it
    grads: int  # gradient evaluations in this step
    hvps: int  # Hessian-vector products in this step (one per vector)
    step_size: float
    eigvals: tuple[float, ...]
    eig_converged: bool = True


@dataclass(frozen=True)
class EigenSettings:
    """Eigensolver knobs.

    tol is on the residual, |Hv - θv| <= tol·|θ|: it bounds θ's error by about
    tol²·|θ|·(|θ|/gap), so 1e-2 is comparable to the package's 1e-4 on successive
    estimates. One guard vector for Euler, whose λ_{k+1} sits in the bulk: it speeds
    up that pair and guards against locking onto an interior eigenvalue; none for
    adaptive GD, whose λ₁ is well separated.
    """

    tol: float = 1e-2
    max_iters: int = 300
    guard: int = 1
    seed: int = 0


ADAPTIVE_EIG = EigenSettings(guard=0)
EULER_EIG = EigenSettings(guard=1)


def warmup_scale(i: int, warmup_iters: int, warmup_factor: float) -> float:
    """Factor on the maximum step at step index i (0-based): warmup_factor while i < warmup_iters.

    Why: the first steps from a random initialisation are transient; a smaller cap
    keeps the loss falling monotonically (the seed notes it was needed).
    """
    return warmup_factor if i < warmup_iters else 1.0


def adaptive_step_size(top_eigval: float, lr: float, scale: float) -> float:
    """min(scale·lr, 1/|λ₁|): never step past the stability limit 2/λ₁, with margin."""
    return min(scale * lr, 1.0 / abs(top_eigval))


def phi_step(eigvals: torch.Tensor, h: float) -> torch.Tensor:
    """(1 - e^{-λh})/λ per eigenvalue (k,), capped at h; equals h in the limit λ → 0.

    Why the cap: for λ < 0 the exact flow of the quadratic grows exponentially and
    the quadratic model is not to be trusted that far; a gradient step of h is used.
    """
    lam_h = eigvals * h
    safe = torch.where(lam_h == 0, torch.ones_like(eigvals), eigvals)
    flow = torch.where(lam_h == 0, torch.full_like(eigvals, h), -torch.expm1(-lam_h) / safe)
    return flow.clamp(max=h)


def euler_update(grad: torch.Tensor, eigvals: torch.Tensor, eigvecs: torch.Tensor, h: float) -> torch.Tensor:
    """The exponential Euler displacement (P,) from g (P,), stiff λ (k,), stiff V (P, k), time h."""
    coords = eigvecs.T @ grad  # (k,) gradient along the stiff directions
    bulk = grad - eigvecs @ coords  # (P,) the rest of the gradient
    return -h * bulk - eigvecs @ (phi_step(eigvals, h) * coords)


class OurAdaptiveGD:
    """Adaptive gradient descent: step min(lr, 1/λ₁), λ₁ from a warm-started eigensolve."""

    def __init__(self, params: torch.Tensor, loss_fn: LossFn, lr: float, warmup_iters: int = 0,
                 warmup_factor: float = 1.0, eig: EigenSettings = ADAPTIVE_EIG) -> None:
        self.params = params  # (P,), updated in place like the package's solvers
        self.loss_fn = loss_fn
        self.lr, self.warmup_iters, self.warmup_factor = lr, warmup_iters, warmup_factor
        self.eig = eig
        self.eig_block: torch.Tensor | None = None  # (1 + guard, P) warm start: previous eigenvectors as rows
        self._generator = torch.Generator().manual_seed(eig.seed)
        self.i = 0

    def step(self) -> StepResult:
        """One step: gradient, top eigenpair, update; returns the pre-update loss."""
        point = HessianAtPoint(self.loss_fn, self.params)
        pairs = top_eigenpairs(point.matmul, self.params.numel(), 1, init=self.eig_block, guard=self.eig.guard,
                               tol=self.eig.tol, max_iters=self.eig.max_iters, dtype=self.params.dtype,
                               device=self.params.device, generator=self._generator)
        self.eig_block = pairs.block
        h = adaptive_step_size(float(pairs.values[0]), self.lr,
                               warmup_scale(self.i, self.warmup_iters, self.warmup_factor))
        with torch.no_grad():
            self.params -= h * point.grad
        self.i += 1
        return StepResult(float(point.loss), 1, point.hvps, h, tuple(pairs.values.tolist()), pairs.converged)


class OurExponentialEuler:
    """Exponential Euler: exact quadratic flow on k stiff directions, gradient step on the rest."""

    def __init__(self, params: torch.Tensor, loss_fn: LossFn, max_step: float, stiff_dim: int,
                 warmup_iters: int = 0, warmup_factor: float = 1.0, eig: EigenSettings = EULER_EIG) -> None:
        self.params = params  # (P,)
        self.loss_fn = loss_fn
        self.max_step, self.stiff_dim = max_step, stiff_dim
        self.warmup_iters, self.warmup_factor = warmup_iters, warmup_factor
        self.eig = eig
        self.eig_block: torch.Tensor | None = None  # (k + 1 + guard, P)
        self._generator = torch.Generator().manual_seed(eig.seed)
        self.i = 0

    def step(self) -> StepResult:
        """One step from the top k+1 eigenpairs; returns the pre-update loss."""
        k = self.stiff_dim
        point = HessianAtPoint(self.loss_fn, self.params)
        pairs = top_eigenpairs(point.matmul, self.params.numel(), k + 1, init=self.eig_block, guard=self.eig.guard,
                               tol=self.eig.tol, max_iters=self.eig.max_iters, dtype=self.params.dtype,
                               device=self.params.device, generator=self._generator)
        self.eig_block = pairs.block
        scale = warmup_scale(self.i, self.warmup_iters, self.warmup_factor)
        h = min(scale * self.max_step, 1.0 / abs(float(pairs.values[k])))
        with torch.no_grad():
            self.params += euler_update(point.grad, pairs.values[:k], pairs.vectors[:, :k], h)
        self.i += 1
        return StepResult(float(point.loss), 1, point.hvps, h, tuple(pairs.values.tolist()), pairs.converged)
