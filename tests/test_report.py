"""Tests for harness.report: markdown layout, assets on disk and robustness to missing keys."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest
from PIL import Image

from harness.report import render_markdown, write_report

IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(([^)]+)\)")
SHA_CLAUDE = "40a1b2c3d4e5f60718293a4b5c6d7e8f90123456"
SHA_GEMINI = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"
SHA_BASE = "abcdef0123456789abcdef0123456789abcdef01"


def _png(path: Path, size: tuple[int, int], colour: tuple[int, int, int]) -> str:
    """Write a solid-colour PNG and return its absolute path as the harness would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return str(path.resolve())


def _summary(median: float, spread: float = 0.05) -> dict:
    return {"n": 5, "median": median, "mean": median, "min": median * (1 - spread),
            "max": median * (1 + spread), "spread": 2 * spread}


def _speed(speedup: float | None, ci, p: float | None, verdict: str, reason: str,
           unstable: bool = False) -> dict:
    return {"speedup": speedup, "ci": ci, "p_value": p, "significant": p is not None and p < 0.05,
            "verdict": verdict, "reason": reason, "unstable": unstable}


def _image(epoch: int, identical: bool, base: str, cand: str, heat: str | None = None,
           pixels: int = 0, bbox=None, ssim: float = 1.0) -> dict:
    return {"epoch": epoch, "identical": identical, "differing_pixels": pixels, "bbox": bbox,
            "ssim": ssim, "boundary_lost": 0 if identical else 7, "boundary_gained": 0 if identical else 3,
            "baseline_png": base, "candidate_png": cand, "heatmap_png": heat, "missing": None}


def _claude(pngs: Path) -> dict:
    """Equivalent and faster: all epochs identical."""
    images = [_image(e, True, _png(pngs / f"base{e}.png", (640, 480), (e * 10, 0, 0)),
                     _png(pngs / f"claude{e}.png", (640, 480), (e * 10, 0, 0))) for e in (10, 5)]
    return {
        "name": "claude", "sha": SHA_CLAUDE, "status": "ok",
        "equivalent": True, "losses_match": True, "images_identical": True,
        "verdict": "equivalent, faster", "diagnosis": "outputs identical to the baseline",
        "speedup": {"train_epoch": 1.0, "visualise": 4.6, "period": 3.91, "wall": 3.6},
        "peak_rss_mb": 830.0,
        "timing": {"train_epoch": _summary(0.5), "visualise": _summary(0.4), "period": _summary(1.0),
                   "wall": _summary(10.0), "peak_rss_mb": _summary(830.0)},
        "speed": {"train_epoch": _speed(1.0, [0.97, 1.03], 0.62, "no significant difference", "p=0.62 ≥ 0.05"),
                  "visualise": _speed(4.6, [4.4, 4.8], 0.008, "faster", "p=0.008 < 0.05"),
                  "period": _speed(3.91, [3.80, 4.02], 0.008, "faster", "p=0.008 < 0.05"),
                  "wall": _speed(3.6, [3.5, 3.7], 0.008, "faster", "p=0.008 < 0.05")},
        "losses": {"match": True, "first_divergent_epoch": None, "max_abs_diff": 0.0,
                   "rows": [{"epoch": e, "baseline_train": 0.5 / e, "candidate_train": 0.5 / e,
                             "baseline_val": 0.6 / e, "candidate_val": 0.6 / e} for e in (1, 2, 3)]},
        "images": images, "flags": [], "diffstat": " polytope/hashing.py | 40 ++++--\n 1 file changed",
        "stderr_tail": "", "warnings": [],
    }


def _gemini(pngs: Path) -> dict:
    """Not equivalent: losses diverge at epoch 3, images differ from epoch 10 on."""
    return {
        "name": "gemini", "sha": SHA_GEMINI, "status": "ok",
        "equivalent": False, "losses_match": False, "images_identical": False,
        "verdict": "NOT equivalent", "diagnosis": "losses diverge | boundary moved",
        "speedup": {"train_epoch": 1.1, "visualise": 2.0, "period": 1.5, "wall": 1.4},
        "peak_rss_mb": 901.4,
        "timing": {"train_epoch": _summary(0.45), "visualise": _summary(0.9), "period": _summary(2.6),
                   "wall": _summary(25.0)},
        "speed": {"period": _speed(1.5, [1.4, 1.6], 0.01, "faster", "p=0.01 < 0.05", unstable=True)},
        "losses": {"match": False, "first_divergent_epoch": 3, "max_abs_diff": 0.0123,
                   "rows": [{"epoch": e, "baseline_train": 0.5, "candidate_train": 0.5 + (e >= 3) * 0.01,
                             "baseline_val": 0.6, "candidate_val": 0.61} for e in (2, 3, 4)]},
        "images": [
            _image(5, True, _png(pngs / "g_base5.png", (900, 600), (0, 0, 0)),
                   _png(pngs / "g_cand5.png", (900, 600), (0, 0, 0))),
            _image(10, False, _png(pngs / "g_base10.png", (900, 600), (0, 255, 0)),
                   _png(pngs / "g_cand10.png", (900, 600), (0, 0, 255)),
                   _png(pngs / "g_heat10.png", (900, 600), (255, 0, 0)),
                   pixels=1234, bbox=[10, 20, 300, 400], ssim=0.987654),
            _image(15, False, _png(pngs / "g_base15.png", (900, 600), (9, 9, 9)),
                   _png(pngs / "g_cand15.png", (900, 600), (9, 9, 9)),
                   _png(pngs / "g_heat15.png", (900, 600), (9, 9, 9)), pixels=5, ssim=0.99),
        ],
        "flags": ["diff touches torch.manual_seed (seeds)", "diff touches torch.set_num_threads (threads)"],
        "diffstat": " polytope/model.py | 12 +++---\n 1 file changed", "stderr_tail": "", "warnings": [],
    }


def _crashed() -> dict:
    return {
        "name": "broken", "sha": "1234567890abcdef1234567890abcdef12345678", "status": "crashed",
        "equivalent": None, "losses_match": None, "images_identical": None,
        "verdict": "crashed", "diagnosis": "candidate exited with code 1",
        "speedup": {"train_epoch": None, "visualise": None, "period": None, "wall": None},
        "peak_rss_mb": None, "timing": {}, "speed": {}, "losses": None, "images": [], "flags": [],
        "diffstat": "", "stderr_tail": "Traceback (most recent call last):\nRuntimeError: boom", "warnings": [],
    }


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict:
    pngs = tmp_path_factory.mktemp("outputs")
    return {
        "schema": "evalharness.compare/1", "created": "2026-11-22T12:00:00Z",
        "baseline": "baseline", "repeat": 5, "quick": False, "threshold": 0.05,
        "task": {"name": "polytope", "preset": "small", "params": {"shape": "[16]*4"},
                 "command": ["python", "./draw-poly-while-training.py", "--epochs", "20"]},
        "environment": {"python": "3.11.7", "platform": "Linux | x86_64", "torch": "2.13.0+cpu", "threads": 2},
        "warnings": ["baseline unstable: period spread 14% ≥ 10%; ~12 repeats needed"],
        "baseline_sha": SHA_BASE,
        "baseline_timing": {"train_epoch": _summary(0.5), "visualise": _summary(1.84),
                            "period": _summary(3.91), "wall": _summary(36.0), "peak_rss_mb": _summary(800.0)},
        "noise_floor": {"name": "baseline vs baseline", "floor": 0.031,
                        "speedup": {"train_epoch": 1.01, "visualise": 0.99, "period": 1.02, "wall": 1.0},
                        "speed": {"period": _speed(1.02, [0.97, 1.06], 0.5, "no significant difference",
                                                   "p=0.50 ≥ 0.05")}},
        "candidates": [_gemini(pngs), _claude(pngs), _crashed()],
    }


@pytest.fixture(scope="module")
def report(data: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(data, tmp_path_factory.mktemp("reports") / "compare report.md")


@pytest.fixture(scope="module")
def text(report: Path) -> str:
    return report.read_text(encoding="utf-8")


def _row(text: str, first_cell: str) -> list[str]:
    """Cells of the first table row whose first cell is ``first_cell`` (pipes may be escaped)."""
    for line in text.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no table row starting with {first_cell!r}")


def _section(text: str, heading: str) -> str:
    """Body of a ``## heading`` section up to the next level-2 heading."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"missing section {heading}"
    return match.group(1)


def _links(text: str) -> list[str]:
    return IMAGE_LINK.findall(text)


def test_write_report_returns_path_and_asset_folder(report: Path) -> None:
    assert report.is_file()
    assert (report.parent / "compare report_files").is_dir()


def test_title_meta_and_warnings(text: str) -> None:
    assert text.startswith("# evalharness compare: baseline vs gemini, claude, broken\n")
    assert "task: **polytope**" in text and "preset: **small**" in text and "repeats: **5**" in text
    assert "2026-11-22T12:00:00Z" in text
    assert "- ⚠️ baseline unstable: period spread 14% ≥ 10%; ~12 repeats needed" in text


def test_summary_row_for_faster_candidate(text: str) -> None:
    cells = _row(_section(text, "Summary"), "**claude**")
    assert cells == ["**claude**", f"`{SHA_CLAUDE[:12]}`", "equivalent, faster", "yes", "yes",
                     "3.91× [3.80, 4.02]", "4.60× [4.40, 4.80]", "1.00× [0.97, 1.03]", "3.60× [3.50, 3.70]", "830"]


def test_summary_row_for_non_equivalent_candidate(text: str) -> None:
    cells = _row(_section(text, "Summary"), "**gemini**")
    assert cells[2:5] == ["NOT equivalent", "no", "no"]
    assert cells[5] == "1.50× [1.40, 1.60]" and cells[6] == "2.00×" and cells[9] == "901"


def test_pipes_in_free_text_are_escaped_in_tables(text: str) -> None:
    assert _row(_section(text, "Environment"), "`platform`") == ["`platform`", "Linux \\| x86_64"]
    assert "**NOT equivalent** — losses diverge | boundary moved" in _section(text, "gemini")


def test_summary_row_for_crashed_candidate_uses_dashes(text: str) -> None:
    cells = _row(_section(text, "Summary"), "**broken**")
    assert cells[2] == "crashed"
    assert cells[3:] == ["–"] * 7


def test_noise_floor_row(text: str) -> None:
    cells = _row(_section(text, "Summary"), "_baseline vs baseline_")
    assert cells[1] == f"`{SHA_BASE[:12]}`"
    assert cells[2] == "noise floor ±3.1%"
    assert cells[5] == "1.02× [0.97, 1.06]" and cells[8] == "1.00×"


def test_candidate_sections_have_bold_verdicts(text: str) -> None:
    assert "**equivalent, faster** — outputs identical to the baseline" in _section(text, "claude")
    assert _section(text, "gemini").lstrip().startswith("**NOT equivalent**")
    assert "**crashed** — candidate exited with code 1" in _section(text, "broken")


def test_flags_rendered_as_warning_block(text: str) -> None:
    gemini = _section(text, "gemini")
    assert "> [!WARNING]" in gemini
    assert "> - diff touches torch.manual_seed (seeds)" in gemini
    assert "> - diff touches torch.set_num_threads (threads)" in gemini
    assert "[!WARNING]" not in _section(text, "claude")


def test_speed_verdict_lines(text: str) -> None:
    claude = _section(text, "claude")
    assert "- **period**: faster (p=0.008 < 0.05)" in claude
    assert "- **train_epoch**: no significant difference (p=0.62 ≥ 0.05)" in claude


def test_first_divergent_epoch_is_bold_only_there(text: str) -> None:
    gemini = _section(text, "gemini")
    assert _row(gemini, "**3**")[1:] == ["0.5", "0.51", "0.6", "0.61", "+0.01"]
    assert _row(gemini, "2")[5] == "+0"
    assert _row(gemini, "4")
    assert "Losses first diverge at epoch **3**" in gemini
    assert "**1**" not in _section(text, "claude")


def test_image_table(text: str) -> None:
    gemini = _section(text, "gemini")
    assert _row(gemini, "10") == ["10", "no", "1234", "(10, 20)–(300, 400)", "0.9877", "7", "3", ""]
    assert _row(gemini, "5")[1:3] == ["yes", "0"]
    assert "No images compared." in _section(text, "broken")


def test_image_links_are_relative_and_exist(report: Path, text: str) -> None:
    links = _links(text)
    assert len(links) == 2 * 3 + 3 - 1  # 3 charts, 3 gemini thumbs, 2 claude thumbs (no heatmap)
    for link in links:
        assert not Path(unquote(link)).is_absolute()
        assert unquote(link).startswith("compare report_files/")
        assert (report.parent / unquote(link)).is_file(), link


def test_thumbnails_show_first_differing_epoch(report: Path, text: str) -> None:
    links = {unquote(l) for l in _links(_section(text, "gemini")) if "timing" not in l}
    colours = {}
    for link in links:
        with Image.open(report.parent / link) as img:
            assert img.width == 480 and img.height == 320  # 900x600 downscaled, aspect kept
            colours[link.rsplit("-", 1)[1]] = img.convert("RGB").getpixel((5, 5))
    assert colours == {"baseline.png": (0, 255, 0), "candidate.png": (0, 0, 255), "heatmap.png": (255, 0, 0)}
    assert "Epoch 10 (first differing epoch):" in _section(text, "gemini")


def test_thumbnails_use_last_epoch_when_identical(report: Path, text: str) -> None:
    claude = _section(text, "claude")
    assert "Epoch 10 (last epoch, all identical):" in claude
    baseline_thumb = next(unquote(l) for l in _links(claude) if l.endswith("baseline.png"))
    with Image.open(report.parent / baseline_thumb) as img:
        assert img.convert("RGB").getpixel((0, 0)) == (100, 0, 0)
        assert img.width == 480


def test_timing_table_and_bar_chart(report: Path, text: str) -> None:
    claude = _section(text, "claude")
    assert _row(claude, "period") == ["period", "3.910 s", "1.000 s", "3.91×", "[3.80, 4.02]", "0.008",
                                      "faster", ""]
    assert _row(claude, "peak_rss_mb")[1:4] == ["800 MB", "830 MB", "–"]
    assert _row(_section(text, "gemini"), "period")[-1] == "yes"
    assert _row(_section(text, "gemini"), "peak_rss_mb")[2] == "901 MB"  # falls back to candidate peak_rss_mb
    chart = next(unquote(l) for l in _links(claude) if "timing" in l)
    with Image.open(report.parent / chart) as img:
        img.load()
        assert img.format == "PNG" and img.width > 200 and img.height > 100


def test_diffstat_and_stderr_blocks(text: str) -> None:
    assert "```text\n polytope/hashing.py | 40 ++++--\n 1 file changed\n```" in _section(text, "claude")
    broken = _section(text, "broken")
    assert "```text\nTraceback (most recent call last):\nRuntimeError: boom\n```" in broken
    assert "stderr" not in _section(text, "claude")


def test_environment_section(text: str) -> None:
    env = _section(text, "Environment")
    assert _row(env, "`torch`") == ["`torch`", "2.13.0+cpu"]
    assert _row(env, "`threads`") == ["`threads`", "2"]
    assert "```sh\npython ./draw-poly-while-training.py --epochs 20\n```" in env
    assert text.rstrip().endswith("```")  # environment is the last section


def test_report_folder_can_be_moved(data: dict, tmp_path: Path) -> None:
    original = write_report(data, tmp_path / "orig" / "r.md").parent
    moved = Path(shutil.move(original, tmp_path / "moved"))
    text = (moved / "r.md").read_text(encoding="utf-8")
    assert not original.exists() and _links(text)
    assert all((moved / unquote(link)).is_file() for link in _links(text))


def test_missing_image_file_is_skipped_not_fatal(data: dict, tmp_path: Path) -> None:
    broken = copy.deepcopy(data)
    broken["candidates"][0]["images"][1]["heatmap_png"] = str(tmp_path / "does-not-exist.png")
    text = write_report(broken, tmp_path / "r.md").read_text(encoding="utf-8")
    gemini = _section(text, "gemini")
    assert "heatmap epoch" not in gemini
    assert all((tmp_path / unquote(link)).is_file() for link in _links(text))


def test_render_markdown_handles_missing_optional_keys() -> None:
    minimal = {"baseline": "main", "noise_floor": None,
               "candidates": [{"name": "fast", "images": [], "speed": None, "losses": None}]}
    text = render_markdown(minimal, {})
    assert text.startswith("# evalharness compare: main vs fast")
    assert "baseline vs baseline" not in text
    assert _row(_section(text, "Summary"), "**fast**")[3:] == ["–"] * 7
    assert "No images compared." in text and "No loss data." in text and "No timing data." in text
    assert "## Environment" in text and "![" not in text


def test_render_markdown_handles_empty_data() -> None:
    text = render_markdown({}, {})
    assert text.startswith("# evalharness compare: baseline vs –")
    assert "## Summary" in text and "## Environment" in text


def test_import_does_not_switch_matplotlib_backend() -> None:
    code = ("import matplotlib; matplotlib.use('svg'); import harness.report; "
            "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


def test_failed_status_shown_in_summary_and_stderr_section() -> None:
    data = {"candidates": [{"name": "slow", "status": "timeout", "verdict": "not compared", "stderr_tail": ""},
                           {"name": "fine", "status": "ok", "verdict": "equivalent", "stderr_tail": "noise"}]}
    text = render_markdown(data, {})
    assert _row(text, "**slow**")[2] == "not compared (timeout)"
    assert "### stderr (status: timeout)\n\n```text\n(no stderr captured)\n```" in _section(text, "slow")
    assert "noise" not in text


def test_thumbnails_are_smoothed_not_subsampled(tmp_path: Path) -> None:
    """1-px stripes must average to grey (LANCZOS), not alias to pure black/white (NEAREST)."""
    stripes = Image.new("L", (960, 40))
    stripes.putdata([255 * (x % 2) for _ in range(40) for x in range(960)])
    stripes.save(tmp_path / "stripes.png")
    image = _image(1, False, str(tmp_path / "stripes.png"), str(tmp_path / "stripes.png"), pixels=1, ssim=0.5)
    data = {"candidates": [{"name": "c", "images": [image]}]}
    text = write_report(data, tmp_path / "r.md").read_text(encoding="utf-8")
    thumb = next(unquote(l) for l in _links(text) if l.endswith("baseline.png"))
    with Image.open(tmp_path / thumb) as img:
        assert img.size == (480, 20)
        assert 64 < img.getpixel((240, 10)) < 192
