"""Tests of the baseline trainer in baseline/: real runs as subprocesses, bad input through cli.main."""
from __future__ import annotations

import contextlib
import importlib
import io
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import trainer_helpers as th


@pytest.fixture(scope="module")
def ring(tmp_path_factory) -> Path:
    return th.make_ring_png(tmp_path_factory.mktemp("ring") / "ring.png")


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, ring):
    """Two identical baseline runs with the test preset (run in parallel)."""
    base = tmp_path_factory.mktemp("det")
    with ThreadPoolExecutor(2) as pool:
        futs = [pool.submit(th.run_trainer, th.BASELINE_DIR, ring, base / f"out{i}") for i in (1, 2)]
        return [f.result() for f in futs]


@pytest.fixture(scope="module")
def polytope_model():
    sys.path.insert(0, str(th.BASELINE_DIR))
    try:
        yield importlib.import_module("polytope.model")
    finally:
        sys.path.remove(str(th.BASELINE_DIR))


@pytest.fixture(scope="module")
def polytope_hashing(polytope_model):
    return importlib.import_module("polytope.hashing")


# ---------------------------------------------------------------- end to end

def test_run_succeeds_and_logs_every_epoch(two_runs):
    run = two_runs[0]
    assert run.returncode == 0, run.stderr
    losses = th.loss_lines(run.stderr)
    assert [(e, n) for e, n, _, _ in losses] == [(1, 3), (2, 3), (3, 3)]
    assert th.vis_epochs(run.stderr) == [1, 2, 3]
    # every stderr line is a well-formed log line
    for line in run.stderr.splitlines():
        assert th.LOSS_RE.match(line) or th.VIS_RE.match(line), line


def test_determinism_png_bytes_and_losses(two_runs):
    a, b = two_runs
    assert a.returncode == b.returncode == 0
    assert th.loss_lines(a.stderr) == th.loss_lines(b.stderr)
    pa, pb = th.png_bytes(a.output_dir), th.png_bytes(b.output_dir)
    assert sorted(pa) == ["ring_epoch_0001.png", "ring_epoch_0002.png", "ring_epoch_0003.png"]
    assert pa == pb


def test_png_panels(two_runs):
    size = th.RING_SIZE
    img = th.png_arrays(two_runs[0].output_dir)["ring_epoch_0003.png"]
    assert img.shape[1] == 3 * size and img.shape[0] > size  # text block underneath
    bound, pred, target = (img[:size, i * size:(i + 1) * size] for i in range(3))
    red = np.all(bound == (255, 0, 0), axis=-1)
    assert red.any(), "no polytope boundary drawn"
    assert (bound[~red] == pred[~red]).all(), "panel 1 must be panel 2 plus red boundary"
    assert not np.all(pred == (255, 0, 0), axis=-1).any()
    assert (pred[..., 0] == pred[..., 1]).all() and (pred[..., 1] == pred[..., 2]).all()
    assert np.all(target == (255, 0, 0), axis=-1).sum() == 500
    assert np.all(target == (0, 0, 255), axis=-1).sum() == 1000


def test_save_interval_and_last_epoch(tmp_path, ring):
    args = list(th.PRESET_ARGS)
    args[args.index("--save-interval") + 1] = "2"
    run = th.run_trainer(th.BASELINE_DIR, ring, tmp_path / "out", args)
    assert run.returncode == 0, run.stderr
    assert th.vis_epochs(run.stderr) == [2, 3]
    assert sorted(th.png_bytes(tmp_path / "out")) == ["ring_epoch_0002.png", "ring_epoch_0003.png"]


def test_make_ring_sizes():
    make_ring = th.load_make_ring()
    img = make_ring(64)
    assert img.size == (64, 64) and img.mode == "L"
    arr = np.asarray(img)
    assert set(np.unique(arr)) == {0, 255}
    assert arr[32, 32] == 255 and arr[0, 0] == 255 and arr[32, 32 - 19] == 0


# ---------------------------------------------------------------- units

@pytest.mark.parametrize("text,expected", [
    ("[100]*20", [100] * 20),
    ("[64, 32]", [64, 32]),
    ("[10]*8", [10] * 8),
    ("[64,32]*2", [64, 32, 64, 32]),
    (" [ 5 ] ", [5]),
    ("[4096]", [4096]),
    ("[1]*100", [1] * 100),
])
def test_parse_shape_good(polytope_model, text, expected):
    assert polytope_model.parse_shape(text) == expected


@pytest.mark.parametrize("text", [
    "", "[]", "[a]", "100", "[100]*", "[100]*0", "[0]", "[-1]", "[1.5]", "[4097]",
    "[1]*101", "[10]*20*2", "(100,)", "__import__('os').system('true')", "[100]+[5]",
    "[100, ]*x", "[[100]]",
])
def test_parse_shape_bad(polytope_model, text):
    with pytest.raises(ValueError) as err:
        polytope_model.parse_shape(text)
    assert repr(text) in str(err.value)


def test_model_structure(polytope_model):
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = polytope_model.PolytopeNet([8, 4])
    kinds = [type(m) for m in net.layers]
    assert kinds == [nn.Linear, nn.LeakyReLU, nn.Linear, nn.LeakyReLU, nn.Linear]
    assert net.layers[1].negative_slope == 0.01
    assert all(torch.all(m.bias == 0.1) for m in net.layers if isinstance(m, nn.Linear))
    assert net(torch.zeros(5, 2)).shape == (5, 1)


def test_boundary_mask_hand_made(polytope_hashing):
    grid = np.array([[1, 1, 1, 1],
                     [1, 1, 2, 2],
                     [1, 1, 2, 2],
                     [3, 3, 3, 3]], dtype=np.int64)
    expected = np.array([[0, 0, 1, 1],
                         [0, 1, 1, 1],
                         [1, 1, 1, 1],
                         [1, 1, 1, 1]], dtype=bool)
    assert (polytope_hashing.boundary_mask(grid) == expected).all()
    assert not polytope_hashing.boundary_mask(np.full((3, 5), 7, np.int64)).any()


def test_baseline_hash_separates_single_unit(polytope_model, polytope_hashing):
    import torch

    net = polytope_model.PolytopeNet([6, 5])
    base = [torch.zeros(1, 6, dtype=torch.bool), torch.ones(1, 5, dtype=torch.bool)]
    h0 = polytope_hashing.hash_patterns(net, base)
    seen = {int(h0[0])}
    for layer, width in enumerate((6, 5)):
        for unit in range(width):
            flipped = [p.clone() for p in base]
            flipped[layer][0, unit] = ~flipped[layer][0, unit]
            seen.add(int(polytope_hashing.hash_patterns(net, flipped)[0]))
    assert len(seen) == 1 + 11


def test_region_hashes_chunking_invariant(polytope_model, polytope_hashing):
    import torch

    torch.manual_seed(1)
    net = polytope_model.PolytopeNet([8] * 3)
    coords = torch.rand(1000, 2)
    p1, h1 = polytope_hashing.region_hashes(net, coords, 1000)
    p2, h2 = polytope_hashing.region_hashes(net, coords, 333)
    assert p1.dtype == np.float32 and h1.dtype == np.int64 and p1.shape == h1.shape == (1000,)
    assert (h1 == h2).all()
    with torch.no_grad():
        assert np.allclose(p1, net(coords)[:, 0].numpy(), atol=1e-6)


# ---------------------------------------------------------------- bad input

def _bad_cases(tmp: Path, ring: Path):
    text_file = tmp / "notes.txt"
    text_file.write_text("not an image\n")
    blocker = tmp / "blocker"
    blocker.write_text("a file where a directory should be\n")
    preset = dict(zip(th.PRESET_ARGS[::2], th.PRESET_ARGS[1::2]))

    def args(**over):
        merged = {**preset, **{f"--{k.replace('_', '-')}": v for k, v in over.items()}}
        return [x for kv in merged.items() for x in kv]

    return {
        "missing-input": (tmp / "nope.png", args(), tmp / "o1"),
        "non-image-input": (text_file, args(), tmp / "o2"),
        "directory-input": (tmp, args(), tmp / "o3"),
        "shape-letters": (ring, args(shape="[a]"), tmp / "o4"),
        "shape-code": (ring, args(shape="__import__('os').getcwd()"), tmp / "o5"),
        "shape-zero-width": (ring, args(shape="[0]*3"), tmp / "o6"),
        "shape-too-deep": (ring, args(shape="[4]*1000"), tmp / "o7"),
        "epochs-zero": (ring, args(epochs="0"), tmp / "o8"),
        "epochs-negative": (ring, args(epochs="-3"), tmp / "o9"),
        "too-many-points": (ring, args(points="3500"), tmp / "o10"),  # 3500 + 1000 > 64*64
        "zero-points": (ring, args(points="0"), tmp / "o11"),
        "output-dir-under-file": (ring, args(), blocker / "sub"),
        "output-dir-is-file": (ring, args(), blocker),
        "save-interval-zero": (ring, args(save_interval="0"), tmp / "o12"),
    }


def _main_in_process(cli_module, input_png: Path, args: list[str], output_dir: Path) -> th.Run:
    """polytope.cli.main called directly: the same code path as the script, without a process start."""
    err = io.StringIO()
    argv = ["--input", str(input_png), *args, "--output-dir", str(output_dir)]
    with contextlib.redirect_stderr(err):
        try:
            code = cli_module.main(argv)
        except SystemExit as exc:  # argparse's own errors
            code = exc.code
    return th.Run(code, "", err.getvalue(), Path(output_dir))


@pytest.fixture(scope="module")
def polytope_cli(polytope_model):
    return importlib.import_module("polytope.cli")


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory, ring, polytope_cli):
    """Every bad-input case through polytope.cli.main in-process (one real subprocess case is below)."""
    tmp = tmp_path_factory.mktemp("bad")
    return {name: _main_in_process(polytope_cli, inp, args, out)
            for name, (inp, args, out) in _bad_cases(tmp, ring).items()}


BAD_CASE_NAMES = ["missing-input", "non-image-input", "directory-input", "shape-letters",
                  "shape-code", "shape-zero-width", "shape-too-deep", "epochs-zero",
                  "epochs-negative", "too-many-points", "zero-points", "output-dir-under-file",
                  "output-dir-is-file", "save-interval-zero"]


@pytest.mark.parametrize("case", BAD_CASE_NAMES)
def test_bad_input_one_line_exit_2(bad_runs, case):
    run = bad_runs[case]
    assert run.returncode == 2, (case, run.stderr)
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("error: ") and len(lines[0]) > 20
    assert not list(Path(run.output_dir).glob("*.png")) if Path(run.output_dir).is_dir() else True


def test_bad_shape_message_names_the_flag(bad_runs):
    assert bad_runs["shape-letters"].stderr.strip() == (
        "error: --shape '[a]' is not a list of layer widths like [100]*20")


def test_argparse_errors_exit_2_as_a_real_subprocess(tmp_path, ring):
    run = th.run_trainer(th.BASELINE_DIR, ring, tmp_path / "o",
                         ["--shape", "[4]", "--epochs", "abc", "--points", "10"])
    assert run.returncode == 2 and "Traceback" not in run.stderr
