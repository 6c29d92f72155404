"""Hessian-vector products by double backward, and a warm-started block eigensolver.

Why our own eigensolver: the solvers need the top few Hessian eigenpairs at every
step, and the previous step's eigenvectors are an excellent start. A block LOBPCG
(Rayleigh-Ritz over [X, P, R]) needs far fewer Hessian-vector products than plain
power iteration when the wanted eigenvalue sits in a cluster (the Euler solver's
λ_{k+1} does). Eigenvalues are Ritz values, i.e. Rayleigh quotients xᵀHx: their sign
is the eigenvalue's sign. Reading it from the diagonal of a QR factor is wrong
whenever the Householder convention flips the column (see `qr_diagonal_estimate`).

Layout: a block of m vectors is stored as rows, (m, P), so that every vector is
contiguous (autograd's grad_outputs, concatenation and the thin products are all
several times faster than on strided columns at P = 2.6M).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

MatMul = Callable[[torch.Tensor], torch.Tensor]  # rows (m, P) -> H applied to each row (m, P)


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
        self.hvps = 0  # Hessian-vector products done at this point (one per vector)

    def matmul(self, rows: torch.Tensor) -> torch.Tensor:
        """H v for every row v of rows (m, P): m double-backward passes -> (m, P)."""
        if not rows.shape[0]:
            return torch.empty_like(rows)
        out = torch.stack([
            torch.autograd.grad(self._grad_graph, self.point, v.contiguous(), retain_graph=True)[0]  # (P,)
            for v in rows
        ])
        self.hvps += rows.shape[0]
        return out


@dataclass(frozen=True)
class EigenPairs:
    """Top eigenpairs by magnitude, plus what a warm start and the counters need."""

    values: torch.Tensor  # (n,) Ritz values (Rayleigh quotients), |values| descending
    rows: torch.Tensor  # (n, P) orthonormal Ritz vectors, one per row
    block: torch.Tensor  # (m, P) the whole block (n wanted + guards): next step's warm start
    iterations: int
    converged: bool

    @property
    def vectors(self) -> torch.Tensor:
        """(P, n) eigenvectors as columns, the package's layout."""
        return self.rows.T


def rayleigh_quotients(rows: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """vᵀHv / vᵀv per row of rows (m, P) given image = H applied to the rows -> (m,).

    The sign of an eigenvalue must come from here, not from |Hv| or a QR diagonal.
    """
    return (rows * image).sum(1) / (rows * rows).sum(1)


def qr_diagonal_estimate(image_columns: torch.Tensor) -> torch.Tensor:
    """Power iteration's cheap read-out: diag(R) of QR(H X) for columns (P, m) -> (m,).

    Kept to document the hazard (stable_solvers reads eigenvalues this way): the sign
    of diag(R) follows the Householder convention (LAPACK: R_ii = -sign(a_ii)·|a|,
    and a_ii = 0 counts as positive), not the sign of the eigenvalue.
    """
    return torch.diagonal(torch.linalg.qr(image_columns, mode="reduced").R)


def _project_out(rows: torch.Tensor, against: torch.Tensor | None) -> torch.Tensor:
    """rows (m, P) minus their component in the span of the orthonormal rows `against` (n, P)."""
    if against is None or not against.shape[0]:
        return rows
    return rows - (rows @ against.T) @ against


def _svqb(rows: torch.Tensor, drop_below: float) -> torch.Tensor:
    """(m, P) -> (q, m) transform T with T @ rows orthonormal, dropping dependent directions.

    SVQB: eigendecomposition of the small Gram matrix (in float64) instead of an SVD or
    QR of the (m, P) block, which costs ~10x more per call at P = 2.6M.
    Directions with singular value below `drop_below` (relative to unit-norm rows)
    are dropped: amplifying them would amplify rounding.
    """
    gram = (rows @ rows.T).double()  # (m, m)
    sq, vecs = torch.linalg.eigh(0.5 * (gram + gram.T))
    keep = sq > drop_below ** 2
    return (vecs[:, keep] / sq[keep].sqrt()).T.to(rows.dtype)  # (q, m)


def _unit_rows(rows: torch.Tensor) -> torch.Tensor:
    return rows / rows.norm(dim=1, keepdim=True).clamp_min(torch.finfo(rows.dtype).tiny)


def _orthonormal_rows(rows: torch.Tensor, against: torch.Tensor | None, drop_below: float) -> torch.Tensor:
    """Orthonormal basis (q<=m, P) of the part of rows (m, P) outside span(against).

    Rows are normalised first, so `drop_below` is absolute: a row keeping less than
    that fraction of its norm after projection is numerically dependent and is
    dropped. Project-and-orthonormalise twice ("twice is enough") keeps the basis
    orthogonal to `against` to rounding level, even in float32.
    """
    rows = _project_out(_unit_rows(rows), against)
    rows = _svqb(rows, drop_below) @ rows
    rows = _project_out(rows, against)
    return _svqb(rows, 0.5) @ rows  # already orthonormal up to rounding: nothing real to drop


def _orthonormal_with_image(rows: torch.Tensor, image: torch.Tensor, against: torch.Tensor,
                            against_image: torch.Tensor, drop_below: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Orthonormalise rows (m, P) against `against`, carrying their image along linearly.

    Used for LOBPCG's P block, whose image is known, so no new products are needed.
    The image is obtained by cancellation, so its error grows like 1/s: directions
    keeping less than `drop_below` of their norm are dropped. The result is orthogonal
    to `against` only up to that error; `rayleigh_ritz` does not need more.
    """
    norms = rows.norm(dim=1, keepdim=True).clamp_min(torch.finfo(rows.dtype).tiny)  # (m, 1)
    rows, image = rows / norms, image / norms
    coef = rows @ against.T  # (m, n)
    resid, resid_image = rows - coef @ against, image - coef @ against_image  # (m, P)
    transform = _svqb(resid, drop_below)  # (q, m)
    return transform @ resid, transform @ resid_image


def rayleigh_ritz(basis: torch.Tensor, image: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The m Ritz pairs of largest |value| on the span of basis (q, P): values (m,), coefficients (m, q).

    Solves the small generalized problem (B H Bᵀ) c = θ (B Bᵀ) c in float64, so a basis
    that is orthonormal only up to rounding (the carried P block) costs no accuracy.
    The values are Rayleigh quotients of the Ritz vectors cᵀB, signs included.
    """
    gram = (basis @ image.T).double()  # (q, q), symmetric up to rounding
    metric = (basis @ basis.T).double()  # (q, q), ~ identity
    chol = torch.linalg.cholesky(0.5 * (metric + metric.T))  # lower
    reduced = torch.linalg.solve_triangular(chol, 0.5 * (gram + gram.T), upper=False)
    reduced = torch.linalg.solve_triangular(chol, reduced.T, upper=False)  # L⁻¹ G L⁻ᵀ
    values, vecs = torch.linalg.eigh(0.5 * (reduced + reduced.T))
    coeffs = torch.linalg.solve_triangular(chol.T, vecs, upper=True)  # c = L⁻ᵀ y, so cᵀ M c = I
    order = values.abs().argsort(descending=True)[:m]
    return values[order].to(basis.dtype), coeffs[:, order].T.to(basis.dtype)


def top_eigenpairs(matmul: MatMul, dim: int, n: int, init: torch.Tensor | None = None, guard: int = 0,
                   tol: float = 1e-3, max_iters: int = 300, dtype: torch.dtype = torch.float32,
                   device: torch.device | str = "cpu", generator: torch.Generator | None = None) -> EigenPairs:
    """Top-n eigenpairs (largest |λ|) of a symmetric operator by block LOBPCG.

    Converged when every wanted residual |Hv - θv| <= tol·|θ|. `init` (n + guard, P)
    warm-starts from the previous step; guard vectors speed up the n-th pair's
    convergence and make it less likely to lock onto an interior eigenvalue. Not
    converging within max_iters returns the best estimate with converged=False (the
    caller's loss invariant is the safety net, not an exception).
    """
    m = n + guard
    drop_r = 10 * torch.finfo(dtype).eps ** 0.5  # about 3e-3 in float32, 1.5e-7 in float64
    drop_p = max(drop_r, 1e-2 if dtype == torch.float32 else 1e-4)
    if init is None or init.shape != (m, dim):
        init = torch.randn(m, dim, dtype=dtype, generator=generator).to(device)  # (m, P)
    x = _orthonormal_rows(init, None, drop_r)  # (m, P)
    ax = matmul(x)  # (m, P)
    values, coeffs = rayleigh_ritz(x, ax, m)
    x, ax = coeffs @ x, coeffs @ ax
    p = ap = None
    for iteration in range(1, max_iters + 1):
        resid = ax - values[:, None] * x  # (m, P)
        if bool((resid[:n].norm(dim=1) <= tol * values[:n].abs()).all()):
            return EigenPairs(values[:n], x[:n], x, iteration, True)
        basis, image = [x], [ax]
        if p is not None:
            p, ap = _orthonormal_with_image(p, ap, x, ax, drop_p)
            basis.append(p)
            image.append(ap)
        r = _orthonormal_rows(resid, torch.cat(basis), drop_r)  # (q, P)
        basis.append(r)
        image.append(matmul(r))
        s, hs = torch.cat(basis), torch.cat(image)  # (at most 3m, P)
        values, coeffs = rayleigh_ritz(s, hs, m)
        x, ax = coeffs @ s, coeffs @ hs
        p, ap = coeffs[:, m:] @ s[m:], coeffs[:, m:] @ hs[m:]  # new search direction: the non-X part
    return EigenPairs(values[:n], x[:n], x, max_iters, False)
