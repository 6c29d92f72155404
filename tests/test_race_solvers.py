"""Tests of the solver race's source tree (harness/tasks/race/source): solvers, loop, CLI.

Tiny problems only (a 6-input MLP on 12 random points, or the seed network on 8
digits), so the whole file runs in seconds on a 2-core CPU. Needs the `race` extra
(scikit-learn, stable-solvers).
"""

from __future__ import annotations

import argparse
import logging
import math
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import stable_solvers
import torch

SOURCE_DIR = Path(__file__).resolve().parents[1] / "harness" / "tasks" / "race" / "source"
sys.path.insert(0, str(SOURCE_DIR))

import race  # noqa: E402  (the entry script, importable for in-process tests)
from solverrace import data, hessian, model, ours, package, runner  # noqa: E402

TS = r"(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) - solverrace - INFO - "
STEP_RE = re.compile(TS + r"Step (?P<step>\d+) - Loss: (?P<loss>\S+) - Grads: (?P<grads>\d+) - HVPs: (?P<hvps>\d+)$")
REACHED_RE = re.compile(TS + r"Reached target at step (?P<step>\d+): loss (?P<loss>\S+)$")
VIOLATION_RE = re.compile(TS + r"Invariant violated at step (?P<step>\d+): loss (?P<before>\S+) -> (?P<after>\S+)$")
UNFINISHED_RE = re.compile(TS + r"Unfinished after (?P<seconds>[0-9.]+) s \((?P<steps>\d+) steps\)$")

F64 = torch.float64


# ---------------------------------------------------------------- tiny problem helpers

def tiny_problem(n_classes: int, zero_first_feature: bool = False, seed: int = 0):
    """A 6 -> 5 -> 5 -> C ELU MLP on 12 random points, float64: (dataset, net, params, loss_fn)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(12, 6, dtype=F64, generator=gen)  # (12, 6)
    if zero_first_feature:
        x[:, 0] = 0.0  # like the digits' always-black corner pixel
    y = torch.arange(12) % n_classes  # (12,)
    net = model.build_network(n_classes, input_dim=6, hidden=5, blocks=1)
    params = model.init_params(net, seed, dtype=F64)  # (P,)
    loss_fn = model.make_loss(model.build_network(n_classes, input_dim=6, hidden=5, blocks=1), x, y)
    return torch.utils.data.TensorDataset(x, y), net, params, loss_fn


def exact_top_eigvecs(loss_fn, params: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Dense Hessian's top-n eigenpairs by |λ|: values (n,), vectors (P, n)."""
    hess = torch.autograd.functional.hessian(loss_fn, params)  # (P, P)
    values, vectors = torch.linalg.eigh(hess)
    order = values.abs().argsort(descending=True)[:n]
    return values[order], vectors[:, order]


def no_guard(seed: int = 0) -> ours.EigenSettings:
    return ours.EigenSettings(tol=1e-8, guard=0, seed=seed)


# ---------------------------------------------------------------- step agreement with the package

def test_adaptive_step_matches_package_after_warmup_with_exact_eigenvector():
    """After warm-up, with both eigensolvers started on the exact top eigenvector, λ₁ is exact
    in both and the updates must coincide to rounding: step = min(lr, 1/|λ₁|), here 1/|λ₁|."""
    ds, net, params, loss_fn = tiny_problem(3)
    values, vectors = exact_top_eigvecs(loss_fn, params, 1)
    lr = 10.0 / float(values[0].abs())  # so that 1/λ₁ binds, not lr
    pkg = package.PackageSolver("adaptive", params.clone(), ds, net, 3, lr, warmup_iters=10, warmup_factor=0.01)
    mine = ours.OurAdaptiveGD(params.clone(), loss_fn, lr, 10, 0.01, no_guard())
    pkg.solver.i = mine.i = 10  # past the warm-up
    pkg.solver.eigvec, mine.eig_block = vectors.clone(), vectors.T.clone()
    a, b = pkg.step(), mine.step()
    assert a.step_size == pytest.approx(1.0 / float(values[0].abs()), rel=1e-9)
    assert b.step_size == pytest.approx(a.step_size, rel=1e-9)
    assert a.loss == pytest.approx(b.loss, rel=1e-12)
    torch.testing.assert_close(mine.params, pkg.params, rtol=1e-9, atol=1e-12)
    assert (a.grads, b.grads) == (1, 1)


@pytest.mark.parametrize("i, scale", [(0, 0.01), (9, 0.01), (10, 1.0)])
def test_warmup_is_a_step_function_like_the_package(i: int, scale: float):
    """The package caps the step at warmup_factor·lr while i < warmup_iters, then lr (no ramp)."""
    ds, net, params, loss_fn = tiny_problem(2)
    lr = 1e-3  # far below 1/λ₁, so the (warm-up) cap binds and eigen accuracy is irrelevant
    pkg = package.PackageSolver("adaptive", params.clone(), ds, net, 2, lr, warmup_iters=10, warmup_factor=0.01)
    mine = ours.OurAdaptiveGD(params.clone(), loss_fn, lr, 10, 0.01, no_guard())
    pkg.solver.i = mine.i = i
    a, b = pkg.step(), mine.step()
    assert ours.warmup_scale(i, 10, 0.01) == scale
    assert a.step_size == pytest.approx(scale * lr) and b.step_size == pytest.approx(scale * lr)
    torch.testing.assert_close(mine.params, pkg.params, rtol=1e-9, atol=1e-12)


def test_euler_step_matches_package_when_the_eigensolver_converges():
    """C = 3: k = 2 stiff directions plus λ₃ for the step. Started on the exact top-3
    eigenvectors (all positive-signed here), both eigensolvers return exact pairs, so the
    exact-flow update must coincide to rounding."""
    ds, net, params, loss_fn = tiny_problem(3, seed=6)
    values, vectors = exact_top_eigvecs(loss_fn, params, 3)
    assert (values > 0).all(), "this problem was chosen with a positive top spectrum"
    max_step = 10.0  # so h = 1/|λ₃| and λ·h is far from 0: the exact flow, not a plain step
    pkg = package.PackageSolver("euler", params.clone(), ds, net, 3, max_step)
    mine = ours.OurExponentialEuler(params.clone(), loss_fn, max_step, 2, eig=no_guard())
    pkg.solver.eigvecs, mine.eig_block = vectors.clone(), vectors.T.clone()
    pkg.step()  # advances pkg.params, compared below
    b = mine.step()
    assert b.step_size == pytest.approx(1.0 / float(values[2]), rel=1e-9)
    torch.testing.assert_close(torch.tensor(b.eigvals, dtype=F64), values, rtol=1e-9, atol=0)
    torch.testing.assert_close(mine.params, pkg.params, rtol=1e-8, atol=1e-11)


def test_euler_differs_where_the_package_reads_the_sign_from_qr():
    """Where they differ: the package takes eigenvalues from diag(R) of a QR. When the first
    component of an eigenvector is 0 (an input feature that is always 0, like the digits'
    corner pixel), LAPACK's Householder makes R_11 negative, so the package sees λ₁ < 0 and
    replaces the exact flow along v₁ by a plain step of h (clamped). Ours reads the sign from
    the Rayleigh quotient. (On the seed network with digits this makes the package's Euler
    violate the invariant at step 2.)"""
    ds, net, params, loss_fn = tiny_problem(2, zero_first_feature=True)
    values, vectors = exact_top_eigvecs(loss_fn, params, 2)
    assert values[0] > 0 and vectors[0, 0] == 0
    pkg = package.PackageSolver("euler", params.clone(), ds, net, 2, 10.0)
    mine = ours.OurExponentialEuler(params.clone(), loss_fn, 10.0, 1, eig=no_guard())
    pkg.solver.eigvecs, mine.eig_block = vectors.clone(), vectors.T.clone()
    a, b = pkg.step(), mine.step()
    assert a.eigvals[0] == pytest.approx(-float(values[0]), rel=1e-9), "package: wrong sign"
    assert b.eigvals[0] == pytest.approx(float(values[0]), rel=1e-9), "ours: Rayleigh quotient sign"
    assert not torch.allclose(mine.params, pkg.params, rtol=1e-3, atol=0)


def test_package_counts_gradients_and_hvps():
    """The package exposes no counters: one gradient per step, k+1 HVPs per operator application.
    From exact eigenvectors its power iteration applies the operator twice (the first QR of an
    orthonormal start reads ±1, the second reads λ, the third confirms it): 2 x 3 HVPs."""
    ds, net, params, loss_fn = tiny_problem(3, seed=6)
    _, vectors = exact_top_eigvecs(loss_fn, params, 3)
    pkg = package.PackageSolver("euler", params.clone(), ds, net, 3, 0.01)
    pkg.solver.eigvecs = vectors.clone()
    result = pkg.step()
    assert (result.grads, result.hvps) == (1, 6)


# ---------------------------------------------------------------- eigensolver and the sign hazard

def test_rayleigh_quotient_gives_the_sign_of_a_negative_eigenvalue():
    """diag(-5, 2, 1, ...) in a random basis: the top-|λ| pair is -5, and its sign must be
    negative. The QR diagonal, for the same exact eigenvector, reports +5 (the hazard)."""
    gen = torch.Generator().manual_seed(0)
    basis, _ = torch.linalg.qr(torch.randn(8, 8, dtype=F64, generator=gen))
    spectrum = torch.tensor([-5.0, 2.0, 1.0, 0.5, 0.4, 0.3, 0.2, 0.1], dtype=F64)
    h = basis @ torch.diag(spectrum) @ basis.T
    pairs = hessian.top_eigenpairs(lambda rows: rows @ h, 8, 2, tol=1e-10, dtype=F64, generator=gen)
    assert pairs.converged
    torch.testing.assert_close(pairs.values, torch.tensor([-5.0, 2.0], dtype=F64))
    v = basis[:, :1] * torch.sign(basis[0, 0])  # (8, 1) exact eigenvector, first component > 0
    assert float(hessian.rayleigh_quotients(v.T, (h @ v).T)) == pytest.approx(-5.0)
    assert float(hessian.qr_diagonal_estimate(h @ v)) == pytest.approx(5.0)


def test_lobpcg_matches_dense_eigh_on_a_hessian():
    """Top-3 Ritz pairs of the tiny network's Hessian from a cold start equal the dense ones."""
    _, _, params, loss_fn = tiny_problem(3)
    values, vectors = exact_top_eigvecs(loss_fn, params, 3)
    point = hessian.HessianAtPoint(loss_fn, params)
    pairs = hessian.top_eigenpairs(point.matmul, params.numel(), 3, guard=1, tol=1e-9, dtype=F64,
                                   generator=torch.Generator().manual_seed(0))
    assert pairs.converged and point.hvps > 0
    torch.testing.assert_close(pairs.values, values, rtol=1e-7, atol=0)
    overlaps = (pairs.rows @ vectors).abs().diagonal()  # |cos| between matched vectors
    torch.testing.assert_close(overlaps, torch.ones(3, dtype=F64), rtol=0, atol=1e-6)


def test_phi_step_is_the_exact_flow_capped_at_h():
    lam = torch.tensor([4.0, 0.0, -3.0], dtype=F64)
    flow = ours.phi_step(lam, 0.5)
    assert float(flow[0]) == pytest.approx((1 - math.exp(-2.0)) / 4.0)
    assert float(flow[1]) == pytest.approx(0.5)  # λ → 0 limit
    assert float(flow[2]) == pytest.approx(0.5)  # negative curvature: capped at a gradient step


# ---------------------------------------------------------------- the invariant and the cap

def test_first_violation_on_a_crafted_loss_sequence():
    assert runner.first_violation([3.0, 2.0, 1.5, 0.1]) is None
    assert runner.first_violation([3.0, 2.0, 2.5, 1.0]) == runner.Violation(3, 2.0, 2.5)
    assert runner.first_violation([3.0, 3.0]) == runner.Violation(2, 3.0, 3.0), "equal is not a decrease"
    v = runner.first_violation([3.0, float("nan")])
    assert v is not None and v.step == 2 and math.isnan(v.after)


class Scripted:
    """A fake contender replaying a loss sequence (2 HVPs per step)."""

    def __init__(self, losses: list[float], clock: list[float] | None = None) -> None:
        self.losses, self.clock = list(losses), clock

    def step(self) -> ours.StepResult:
        if self.clock is not None:
            self.clock[0] += 10.0  # each step "takes" 10 s
        return ours.StepResult(self.losses.pop(0), 1, 2, 0.01, ())


def test_violation_is_reported_with_step_and_both_losses(caplog, tmp_path):
    caplog.set_level(logging.INFO, logger="solverrace.test")
    log = logging.getLogger("solverrace.test")
    out = runner.run_race(Scripted([3.0, 2.0, 2.5, 0.001]), 0.01, 60.0, None, log)
    assert (out.status, out.steps, out.grads, out.hvps) == ("invariant_violated", 3, 3, 6)
    assert runner.exit_code(out) == runner.EXIT_INVARIANT == 3
    assert "Invariant violated at step 3: loss 2.0 -> 2.5" in caplog.messages
    assert "Step 3 - Loss: 2.5 - Grads: 3 - HVPs: 6" in caplog.messages
    summary = runner.write_summary(out, tmp_path, {"impl": "fake"})
    assert '"violation": {\n    "step": 3,\n    "before": 2.0,\n    "after": 2.5' in summary.read_text()


def test_reaching_the_target_and_the_cap_in_process(caplog):
    caplog.set_level(logging.INFO, logger="solverrace.test")
    log = logging.getLogger("solverrace.test")
    out = runner.run_race(Scripted([3.0, 0.5, 0.009, 0.001]), 0.01, 60.0, None, log)
    assert (out.status, out.steps, out.final_loss) == ("reached", 3, 0.009)
    assert "Reached target at step 3: loss 0.009" in caplog.messages
    now = [0.0]
    out = runner.run_race(Scripted([3.0, 2.0, 1.0, 0.5], now), 0.01, 25.0, None, log, clock=lambda: now[0])
    assert (out.status, out.steps, runner.exit_code(out)) == ("unfinished", 3, 4)
    assert "Unfinished after 30.0 s (3 steps)" in caplog.messages


def test_cap_interrupts_a_real_run_and_says_unfinished(tmp_path):
    """Real subprocess of race.py, seed network on 8 digits; a 0.3 s cap interrupts the first
    (cold) eigensolve mid-step: reported, exit 4, summary written, never silently dropped."""
    proc = subprocess.run(
        [sys.executable, str(SOURCE_DIR / "race.py"), "--impl", "ours", "--solver", "euler", "--n-train", "8",
         "--n-classes", "2", "--cap-seconds", "0.3", "--device", "cpu", "--output-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == runner.EXIT_UNFINISHED == 4, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    match = UNFINISHED_RE.match(last)
    assert match, last
    assert float(match["seconds"]) >= 0.3 and int(match["steps"]) >= 0
    assert '"status": "unfinished"' in (tmp_path / "summary.json").read_text()


def test_log_line_formats_match_the_parsing_regexes():
    stamp = "2026-11-23 02:45:01,123 - solverrace - INFO - "
    assert STEP_RE.match(stamp + runner.step_line(12, 0.123456789, 13, 240))
    assert REACHED_RE.match(stamp + runner.reached_line(40, 0.0091))
    assert VIOLATION_RE.match(stamp + runner.violation_line(runner.Violation(2, 2.75, 4.5)))
    assert UNFINISHED_RE.match(stamp + runner.unfinished_line(120.04, 37))
    line = runner.step_line(1, 2.759005546569824, 1, 7)
    assert float(STEP_RE.match(stamp + line)["loss"]) == 2.759005546569824, "full float precision"


# ---------------------------------------------------------------- same seed, same start

def args_for(impl: str, solver: str, seed: int = 0) -> argparse.Namespace:
    return race.build_parser().parse_args(["--impl", impl, "--solver", solver, "--n-train", "8",
                                           "--n-classes", "2", "--seed", str(seed)])


def test_same_seed_same_subset_and_same_initial_parameters_for_all_four():
    source = data.load_source("digits")
    first = data.build_dataset(source, 8, 2, seed=0)
    again = data.build_dataset(source, 8, 2, seed=0)
    other = data.build_dataset(source, 8, 2, seed=1)
    for a, b in zip(first.tensors, again.tensors):
        assert torch.equal(a, b)
    assert not torch.equal(first.tensors[0], other.tensors[0])
    contenders = [race.build_contender(args_for(i, s), torch.device("cpu"), first)
                  for i in ("ours", "package") for s in ("adaptive", "euler")]
    for c in contenders[1:]:
        assert torch.equal(c.params, contenders[0].params)
    # the seed's own path: torch.manual_seed(seed); loss_func.initialize_parameters()
    torch.manual_seed(0)
    seeds_params = contenders[2].loss_func.initialize_parameters(device=torch.device("cpu"))
    assert torch.equal(seeds_params, contenders[0].params)
    # and both implementations see the same data: same loss at the same parameters
    ours_loss = float(contenders[0].loss_fn(contenders[0].params))
    pkg_loss = float(contenders[2].loss_func(contenders[2].params))
    assert ours_loss == pytest.approx(pkg_loss, rel=1e-6)


def test_digits_are_made_cifar_shaped():
    source = data.load_digits_3072()
    assert source.images.shape == (1797, 3072) and source.labels.shape == (1797,)
    assert 0.0 <= float(source.images.min()) and float(source.images.max()) <= 1.0
    hwc = source.images.view(-1, 32, 32, 3)
    assert torch.equal(hwc[..., 0], hwc[..., 2]), "grey replicated to 3 channels"
    assert set(source.labels.tolist()) == set(range(10))


def test_local_cifar_copy_is_read_in_torchvision_layout(tmp_path):
    folder = tmp_path / data.CIFAR_DIRNAME
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in data.CIFAR_TRAIN_BATCHES:
        batch = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 3]}
        (folder / name).write_bytes(pickle.dumps(batch))
    source = data.load_source(str(tmp_path))
    assert source.name == "cifar10" and source.images.shape == (20, 3072)
    first = pickle.loads((folder / "data_batch_1").read_bytes())[b"data"][0]  # CHW
    expected = first.reshape(3, 32, 32).transpose(1, 2, 0).reshape(-1) / 255  # HWC
    torch.testing.assert_close(source.images[0], torch.from_numpy(expected).float())


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("argv", [
    ["--impl", "nope", "--solver", "euler"],
    ["--impl", "ours", "--solver", "euler", "--n-classes", "11"],
    ["--impl", "ours", "--solver", "euler", "--threshold", "-1"],
    ["--impl", "ours", "--solver", "euler", "--data", "/nonexistent/cifar"],
    ["--impl", "ours", "--solver", "euler", "--n-train", "100000"],
    ["--impl", "ours", "--solver", "euler", "--warmup-iters", "-2"],
])
def test_bad_input_is_one_error_line_and_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        race.main(argv)
    assert exc.value.code == runner.EXIT_BAD_INPUT == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err


def test_package_is_the_published_one():
    assert {"LossFunction", "AdaptiveGradientDescent", "ExponentialEulerSolver"} <= set(dir(stable_solvers))
