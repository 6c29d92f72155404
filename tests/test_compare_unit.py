"""Unit tests of the comparison stage's pure parts: flags, loss divergence, diagnosis."""

from __future__ import annotations

import pytest

from harness import compare

DIFF = """\
diff --git a/polytope/model.py b/polytope/model.py
--- a/polytope/model.py
+++ b/polytope/model.py
@@ -1,3 +1,5 @@
+        self.coeffs = torch.randint(1, 2**40, (width,))
+torch.set_num_threads(1)
+torch.backends.cuda.matmul.allow_tf32 = True
+        log.info("Visualization @ epoch %d: %.2fs", epoch, time.perf_counter() - t)
         unchanged = torch.manual_seed(0)
"""


def test_scan_flags_names_every_category_and_skips_context_lines() -> None:
    flags = compare.scan_flags(DIFF)
    categories = [f.split(":")[0] for f in flags]
    assert categories == ["RNG draws or state", "thread counts", "precision switches", "logging or timing code"]
    assert all("polytope/model.py" in f for f in flags)


def losses(*values: float) -> list[dict]:
    return [{"epoch": i + 1, "train": v, "val": v / 2} for i, v in enumerate(values)]


@pytest.mark.parametrize(
    "cand, first, match",
    [
        (losses(0.5, 0.4, 0.3), None, True),
        (losses(0.6, 0.4, 0.3), 1, False),
        (losses(0.5, 0.4, 0.31), 3, False),
        (losses(0.5, 0.4), 3, False),           # a run that stopped early
        (losses(0.5, 0.4, 0.3, 0.2), 4, False),  # an extra epoch
    ],
)
def test_compare_losses_finds_the_first_divergent_epoch(cand: list[dict], first: int | None, match: bool) -> None:
    result = compare.compare_losses(losses(0.5, 0.4, 0.3), cand)
    assert (result["first_divergent_epoch"], result["match"]) == (first, match)


def test_loss_tolerance_accepts_the_baselines_own_noise() -> None:
    assert compare.compare_losses(losses(0.5), losses(0.5000004), tolerance=1e-6)["match"]


@pytest.mark.parametrize(
    "status, first, rows, expected",
    [
        ("crashed", None, [], "crashed: boom"),
        ("ok", 1, [], compare.RNG_DIAGNOSIS),
        ("ok", 7, [], "training trajectory changed from epoch 7"),
        ("ok", None, [{"identical": False, "only_boundary": True, "boundary_lost": 5, "boundary_gained": 0, "differing_pixels": 5}], compare.COLLISION_DIAGNOSIS),
        ("ok", None, [{"identical": False, "only_boundary": True, "boundary_lost": 0, "boundary_gained": 3, "differing_pixels": 3}], compare.SPLIT_DIAGNOSIS),
        ("ok", None, [{"identical": False, "only_boundary": False, "boundary_lost": 0, "boundary_gained": 0, "differing_pixels": 9}], compare.RENDER_DIAGNOSIS),
        ("ok", None, [{"identical": True}], compare.IDENTICAL_DIAGNOSIS),
    ],
)
def test_diagnosis_most_fundamental_cause_first(status: str, first: int | None, rows: list[dict], expected: str) -> None:
    losses_ = {"first_divergent_epoch": first, "max_abs_diff": 0.1}
    assert compare.diagnose(status, losses_, rows, "Traceback...\nboom", 60).startswith(expected)
