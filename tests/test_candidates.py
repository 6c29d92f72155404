"""Tests of the candidate patches in candidates/ against the baseline in baseline/."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import trainer_helpers as th

VARIANTS = ("baseline",) + th.CANDIDATE_NAMES


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    root = tmp_path_factory.mktemp("variants")
    return {name: th.make_variant_tree(root / name, name) for name in VARIANTS}


@pytest.fixture(scope="module")
def runs(trees, tmp_path_factory):
    """One preset training run per variant (two at a time: the machine has 2 cores)."""
    tmp = tmp_path_factory.mktemp("runs")
    ring = th.make_ring_png(tmp / "ring.png")
    with ThreadPoolExecutor(2) as pool:
        futs = {n: pool.submit(th.run_trainer, trees[n], ring, tmp / f"out-{n}") for n in VARIANTS}
        result = {n: f.result() for n, f in futs.items()}
    for name, run in result.items():
        assert run.returncode == 0, f"{name} failed:\n{run.stderr}"
    return result


@pytest.fixture(scope="module")
def probes(trees):
    with ThreadPoolExecutor(2) as pool:
        futs = {n: pool.submit(th.hash_probe, trees[n]) for n in VARIANTS}
        return {n: f.result() for n, f in futs.items()}


@pytest.mark.parametrize("name", th.CANDIDATE_NAMES)
def test_patch_has_header_and_applies(tmp_path, name):
    text = th.patch_path(name).read_text()
    header = text.split("diff --git", 1)[0].strip()
    assert len(header) > 40, "patch must start with a paragraph saying what it does"
    tree = th.copy_baseline(tmp_path / "tree")
    result = th.apply_check(tree, name)
    assert result.returncode == 0, result.stderr


def test_patch_check_detects_broken_patch(tmp_path):
    """The apply check itself can fail: a patch against missing context is rejected."""
    tree = th.copy_baseline(tmp_path / "tree")
    bad = tmp_path / "bad.patch"
    bad.write_text(th.patch_path("fused").read_text().replace("VIS_CHUNK = 16384", "VIS_CHUNK = 1"))
    import subprocess
    proc = subprocess.run(["git", "apply", "--check", str(bad)], cwd=tree, capture_output=True)
    assert proc.returncode != 0


@pytest.mark.parametrize("name", th.EQUIVALENT_CANDIDATES)
def test_equivalent_candidate_matches_baseline(runs, name):
    base, cand = runs["baseline"], runs[name]
    assert th.loss_lines(cand.stderr) == th.loss_lines(base.stderr)
    assert th.vis_epochs(cand.stderr) == th.vis_epochs(base.stderr) == [1, 2, 3]
    base_px, cand_px = th.png_arrays(base.output_dir), th.png_arrays(cand.output_dir)
    assert sorted(cand_px) == sorted(base_px) and len(base_px) == 3
    for png in base_px:
        assert np.array_equal(cand_px[png], base_px[png]), f"{name}: {png} pixels differ"


def test_negative_control_losses_differ_from_epoch_1(runs):
    base = th.loss_lines(runs["baseline"].stderr)
    ctrl = th.loss_lines(runs["gemini-first"].stderr)
    assert len(ctrl) == len(base) == 3
    assert ctrl[0] != base[0], "gemini-first must change the epoch-1 losses"


@pytest.mark.parametrize("name", VARIANTS)
def test_hash_separates_single_unit_flips(probes, name):
    probe = probes[name]
    assert probe["collisions"] == [], f"{name}: single-unit flips collide"
    assert probe["n_distinct_base"] == 6  # all-off, all-on and 4 random rows all distinct


@pytest.mark.parametrize("name", VARIANTS)
def test_forward_hash_equals_pattern_hash(probes, name):
    """region_hashes (forward-pass path) agrees with hash_patterns on the real patterns."""
    probe = probes[name]
    assert probe["direct_equal"]
    assert probe["hash_dtype"] == "int64" and probe["pred_dtype"] == "float32"


@pytest.mark.parametrize("name", th.EQUIVALENT_CANDIDATES)
def test_same_partition_and_predictions_as_baseline(probes, name):
    """Same seeded weights -> same regions (hash values may differ) and identical preds.
    (gemini-first is left out: its weight init differs by design.)"""
    base, cand = probes["baseline"], probes[name]
    assert th.same_partition(np.array(base["hashes"]), np.array(cand["hashes"]))
    assert np.array_equal(np.array(base["pred"], np.float32), np.array(cand["pred"], np.float32))
    assert len(set(base["hashes"])) > 3  # the probe grid really has several regions


def test_same_partition_detects_merged_regions():
    a = np.array([1, 1, 2, 2, 3])
    assert th.same_partition(a, a * 7 + 1)
    assert not th.same_partition(a, np.array([1, 1, 2, 2, 2]))
    assert not th.same_partition(np.array([1, 1, 2, 2, 2]), a)


def test_preset_detects_rng_draw_after_init(runs, tmp_path):
    """Mutation check: gemini WITHOUT fork_rng draws its coefficients after the
    weights are initialised, so only the shuffle order changes.  The preset must
    still see that in the losses (it would not with a single batch per epoch)."""
    text = th.patch_path("gemini").read_text()
    assert "+        with torch.random.fork_rng(devices=[]):" in text
    mutated = tmp_path / "gemini-no-fork.patch"
    mutated.write_text(text.replace("+        with torch.random.fork_rng(devices=[]):",
                                    "+        if True:"))
    tree = th.copy_baseline(tmp_path / "tree")
    import subprocess
    subprocess.run(["git", "apply", str(mutated)], cwd=tree, check=True)
    ring = th.make_ring_png(tmp_path / "ring.png")
    run = th.run_trainer(tree, ring, tmp_path / "out")
    assert run.returncode == 0, run.stderr
    assert th.loss_lines(run.stderr) != th.loss_lines(runs["baseline"].stderr)
