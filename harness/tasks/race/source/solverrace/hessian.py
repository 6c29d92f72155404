"""Hessian-vector products by double backward, and a warm-started block eigensolver.

Why our own eigensolver: the solvers need the top few Hessian eigenpairs at every
step, and the previous step's eigenvectors are an excellent start. A block LOBPCG
(Rayleigh-Ritz over [X, P, R]) needs far fewer Hessian-vector products than plain
power iteration when the wanted eigenvalue sits in a cluster (the Euler solver's
λ_{k+1} does). Eigenvalues are Ritz values, i.e. Rayleigh quotients xᵀHx: their sign
is the eigenvalue's sign. Reading it from the diagonal of a QR factor is wrong
whenever the Householder convention flips the column (see `qr_diagonal_estimate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

MatMul = Callable[[torch.Tensor], torch.Tensor]  # (P, m) -> (P, m), m Hessian-vector products


class HessianAtPoint:
    """Loss, gradient and Hessian-vector products of `loss_fn` at one parameter vector.

    The gradient is computed once with `create_graph=True`; every Hessian-vector
    product is then one backward pass through that graph (double backward), so an
    eigensolve does not redo the forward pass per product.
    """

    def __init__(self, loss_fn: Callable[[torch.Tensor], torch.Tensor], params: torch.Tensor) -> None:
        self.point = params.detach().requires_grad_(True)  # (P,)
        with torch.enable_grad():
            value = loss_fn(self.point)  # ()
            (grad,) = torch.autograd.grad(value, self.point, create_graph=True)  # (P,)
        self._grad_graph = grad
        self.loss = value.detach()  # ()
        self.grad = grad.detach()  # (P,)
        self.hvps = 0  # Hessian-vector products done at this point (one per column)

    def matmul(self, block: torch.Tensor) -> torch.Tensor:
        """H @ block for block (P, m): m double-backward passes -> (P, m)."""
        cols = [
            # contiguous: a strided column makes the backward's matmuls ~20x slower
            torch.autograd.grad(self._grad_graph, self.point, col.contiguous(), retain_graph=True)[0]  # (P,)
            for col in block.unbind(1)
        ]
        self.hvps += block.shape[1]
        return torch.stack(cols, 1)  # (P, m)


@dataclass(frozen=True)
class EigenPairs:
    """Top eigenpairs by magnitude, plus what a warm start and the counters need."""

    values: torch.Tensor  # (n,) Ritz values (Rayleigh quotients), |values| descending
    vectors: torch.Tensor  # (P, n) orthonormal Ritz vectors
    block: torch.Tensor  # (P, m) the whole block (n wanted + guards): next step's warm start
    iterations: int
    converged: bool


def rayleigh_quotients(vectors: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """xᵀHx / xᵀx per column of vectors (P, m) given image = H @ vectors -> (m,).

    The sign of an eigenvalue must come from here, not from |Hx| or a QR diagonal.
    """
    return (vectors * image).sum(0) / (vectors * vectors).sum(0)


def qr_diagonal_estimate(image: torch.Tensor) -> torch.Tensor:
    """Power iteration's cheap eigenvalue read-out: diag(R) of QR(H @ X), (P, m) -> (m,).

    Kept only to document the hazard: the sign of diag(R) follows the Householder
    convention (LAPACK makes R_ii = -sign(a_ii)·|a|), not the sign of the eigenvalue.
    """
    return torch.diagonal(torch.linalg.qr(image, mode="reduced").R)


def _project_out(block: torch.Tensor, against: torch.Tensor | None) -> torch.Tensor:
    """block (P, m) minus its component in span(against) (P, n), against orthonormal."""
    if against is None or not against.shape[1]:
        return block
    return block - against @ (against.T @ block)


def _svqb(block: torch.Tensor, drop_below: float) -> torch.Tensor:
    """(P, m) -> (m, q) transform T with block @ T orthonormal, dropping dependent directions.

    SVQB: eigendecomposition of the small Gram matrix (in float64) instead of an SVD or
    QR of the tall (P, m) block, which costs ~10x more per call at P = 2.6M.
    Directions with singular value below `drop_below` (relative to unit-norm columns)
    are dropped: amplifying them would amplify rounding.
    """
    gram = (block.T @ block).double()  # (m, m)
    sq, vecs = torch.linalg.eigh(0.5 * (gram + gram.T))
    keep = sq > drop_below ** 2
    return (vecs[:, keep] / sq[keep].sqrt()).to(block.dtype)  # (m, q)


def _orthonormal_columns(block: torch.Tensor, against: torch.Tensor | None, drop_below: float) -> torch.Tensor:
    """Orthonormal basis (P, q<=m) of the part of block (P, m) outside span(against).

    Columns are normalised first, so `drop_below` is absolute: a column keeping less
    than that fraction of its norm after projection is numerically dependent and is
    dropped. Project-and-orthonormalise twice ("twice is enough") keeps the basis
    orthogonal to `against` to rounding level, even in float32.
    """
    block = block / block.norm(dim=0).clamp_min(torch.finfo(block.dtype).tiny)
    block = _project_out(block, against)
    block = block @ _svqb(block, drop_below)
    block = _project_out(block, against)
    return block @ _svqb(block, 0.5)  # already orthonormal up to rounding: nothing real to drop


def _transform_with_image(block: torch.Tensor, image: torch.Tensor, against: torch.Tensor,
                          against_image: torch.Tensor, drop_below: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Orthonormalise block (P, m) against `against`, carrying H @ block along linearly.

    Used for LOBPCG's P block, whose image is known, so no new products are needed.
    The image is obtained by cancellation, so its error grows like 1/s: directions
    keeping less than `drop_below` of their norm are dropped. The result is orthogonal
    to `against` only up to that error; `rayleigh_ritz` does not need more.
    """
    norms = block.norm(dim=0).clamp_min(torch.finfo(block.dtype).tiny)  # (m,)
    block, image = block / norms, image / norms
    coef = against.T @ block  # (n, m)
    resid = block - against @ coef  # (P, m)
    resid_image = image - against_image @ coef  # (P, m)
    transform = _svqb(resid, drop_below)  # (m, q)
    return resid @ transform, resid_image @ transform


def rayleigh_ritz(basis: torch.Tensor, image: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The m Ritz pairs of largest |value| on span(basis) (P, q): values (m,), coefficients (q, m).

    Solves the small generalized problem (BᵀHB) c = θ (BᵀB) c in float64, so a basis
    that is orthonormal only up to rounding (the carried P block) costs no accuracy.
    The values are Rayleigh quotients of the Ritz vectors B c, signs included.
    """
    gram = (basis.T @ image).double()  # (q, q), symmetric up to rounding
    gram = 0.5 * (gram + gram.T)
    metric = (basis.T @ basis).double()  # (q, q), ~ identity
    chol = torch.linalg.cholesky(0.5 * (metric + metric.T))  # (q, q) lower
    reduced = torch.linalg.solve_triangular(chol, gram, upper=False)
    reduced = torch.linalg.solve_triangular(chol, reduced.T, upper=False)  # L⁻¹ G L⁻ᵀ
    values, vecs = torch.linalg.eigh(0.5 * (reduced + reduced.T))
    coeffs = torch.linalg.solve_triangular(chol.T, vecs, upper=True)  # c = L⁻ᵀ y, so cᵀ M c = I
    order = values.abs().argsort(descending=True)[:m]
    return values[order].to(basis.dtype), coeffs[:, order].to(basis.dtype)


def top_eigenpairs(matmul: MatMul, dim: int, n: int, init: torch.Tensor | None = None, guard: int = 0,
                   tol: float = 1e-3, max_iters: int = 300, dtype: torch.dtype = torch.float32,
                   device: torch.device | str = "cpu", generator: torch.Generator | None = None) -> EigenPairs:
    """Top-n eigenpairs (largest |λ|) of a symmetric operator by block LOBPCG.

    Converged when every wanted residual |Hx - θx| <= tol·|θ|. `init` (P, n + guard)
    warm-starts from the previous step; guard vectors speed up the n-th pair's
    convergence. Not converging within max_iters returns the best estimate with
    converged=False (the caller's loss invariant is the safety net, not an exception).
    """
    m = n + guard
    drop_r = 10 * torch.finfo(dtype).eps ** 0.5  # about 3e-3 in float32, 1.5e-7 in float64
    drop_p = max(drop_r, 1e-2 if dtype == torch.float32 else 1e-4)
    if init is None or init.shape != (dim, m):
        init = torch.randn(dim, m, dtype=dtype, generator=generator).to(device)  # (P, m)
    x = _orthonormal_columns(init, None, drop_r)  # (P, m)
    ax = matmul(x)  # (P, m)
    values, coeffs = rayleigh_ritz(x, ax, m)
    x, ax = x @ coeffs, ax @ coeffs
    p = ap = None
    for iteration in range(1, max_iters + 1):
        resid = ax - x * values  # (P, m)
        res_norms = resid.norm(dim=0)  # (m,)
        if bool((res_norms[:n] <= tol * values[:n].abs()).all()):
            return EigenPairs(values[:n], x[:, :n], x, iteration, True)
        basis, image = [x], [ax]
        if p is not None:
            p, ap = _transform_with_image(p, ap, x, ax, drop_p)
            basis.append(p)
            image.append(ap)
        r = _orthonormal_columns(resid, torch.cat(basis, 1), drop_r)  # (P, q)
        basis.append(r)
        image.append(matmul(r) if r.shape[1] else torch.zeros_like(r))
        s, hs = torch.cat(basis, 1), torch.cat(image, 1)  # (P, 3m at most)
        values, coeffs = rayleigh_ritz(s, hs, m)
        x, ax = s @ coeffs, hs @ coeffs
        p, ap = s[:, m:] @ coeffs[m:], hs[:, m:] @ coeffs[m:]  # new search direction: the non-X part
    return EigenPairs(values[:n], x[:, :n], x, max_iters, False)
