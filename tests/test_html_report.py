"""The HTML report: the same view as the markdown one, opened in a real (headless) browser, and the registry.

The seed compare is rendered with `evalharness report --format html` and
loaded in Chromium: a screenshot is taken and the summary table the browser
built is compared with the document and with the view model both renderers
share. Hostile text from a crashed run must reach the browser as text.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image as PILImage

from browser import Dom, dump_dom, screenshot
from harness.cli import main
from harness.commands.compare import CompareRun, run_compare
from harness.executors.fake import FakeExecutor
from harness.export import COMPARE_EXPORTERS, assets, compare_view, write_outputs
from harness.export.view import Table, text_of
from harness.plan import CompareOptions
from harness.results import CompareDocument
from scripted import Behaviour, script

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED_JSON = REPO_ROOT / "reports" / "seed-1024.json"
WINDOW = (1280, 2400)
#: A crash message a hostile candidate could print: live HTML, an image fetched from its server, a terminal escape.
HOSTILE = ("\x1b[31mred\x1b[0m <script>alert(1)</script> <img src=x onerror=alert(2)> "
           "![pwned](https://evil.invalid/x.png) [click](javascript:alert(3)) a|b")
SHOWN = "red <script>alert(1)</script> <img src=x onerror=alert(2)> ![pwned](https://evil.invalid/x.png)"


def view_summary(doc: CompareDocument) -> list[list[str]]:
    """The summary table of the view model, as the text a reader sees (headers first)."""
    section = next(s for s in compare_view.build(doc).sections if s.key == "summary")
    table = next(b for b in section.blocks if isinstance(b, Table))
    return [[" ".join(text_of(cell).split()) for cell in row] for row in (table.headers, *table.rows)]


def shown_verdict(name: str, doc: CompareDocument) -> str:
    c = next(c for c in doc.candidates if c.name == name)
    return c.verdict if c.status == "ok" or c.status in c.verdict else f"{c.verdict} ({c.status})"


def test_the_seed_compare_as_html_in_a_headless_browser(tmp_path: Path) -> None:
    doc = CompareDocument.load(SEED_JSON)
    page = tmp_path / "seed.html"
    shutil.copytree(assets.asset_dir(SEED_JSON.with_suffix(".md")), assets.asset_dir(page))  # the committed images
    result = CliRunner().invoke(main, ["report", str(SEED_JSON), "--format", "html", "--out", str(page)])
    assert result.exit_code == 0, result.output
    shot = screenshot(page, tmp_path / "seed.png", tmp_path / "profile-1", WINDOW)
    with PILImage.open(shot) as img:
        assert img.format == "PNG" and img.size == WINDOW
        assert len(img.convert("L").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 16  # text drawn, not blank
    dom = Dom(dump_dom(page, tmp_path / "profile-2"))
    rows = dom.tables["summary"]
    header, body = rows[0], rows[1:]
    assert header[:3] == ["candidate", "SHA", "verdict"]
    assert f"{doc.task.label(doc.task.primary_phase)} speedup" in header
    names = [c.name for c in doc.candidates] + ([doc.noise_floor.name] if doc.noise_floor else [])
    assert [row[0] for row in body] == names
    assert [row[2] for row in body[:len(doc.candidates)]] == [shown_verdict(c.name, doc) for c in doc.candidates]
    assert [row[1] for row in body[:len(doc.candidates)]] == [c.sha[:12] for c in doc.candidates]
    assert rows == view_summary(doc)  # every cell, as the view model the markdown report renders too
    shown = {src for tag, attrs in dom.elements if tag == "img" and (src := attrs.get("src"))}
    assert shown and all((tmp_path / src).is_file() for src in shown)  # the same asset folder, every link resolving


@pytest.fixture(scope="module")
def crashed(fake_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> CompareRun:
    """base vs same (timed), pixel (images differ: thumbnails, heatmap) and crash, whose stderr is hostile;
    four rounds."""
    behaviours = {"pixel": Behaviour(pixel=(2, 3)), "crash": Behaviour(status="crashed", stderr=HOSTILE)}
    opts = CompareOptions(baseline="base", preset="small", candidates=["same", "pixel", "crash"],
                          repo=str(fake_repo),
                          work_dir=tmp_path_factory.mktemp("work"), repeat=4, threads=1, variants=0)
    return run_compare(opts, FakeExecutor(script(behaviours)))


def test_hostile_text_reaches_the_browser_as_text(crashed: CompareRun, tmp_path: Path) -> None:
    page = tmp_path / "r.html"
    write_outputs(crashed.doc, {"html": page}, crashed.run_root)
    markup = page.read_text()
    assert "\x1b" not in markup and "<script" not in markup and "<img src=x" not in markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=alert(2)&gt;" in markup
    dom = Dom(dump_dom(page, tmp_path / "profile"))
    assert not [tag for tag, _ in dom.elements if tag in ("script", "iframe", "object", "embed", "a")]
    assert not [(tag, name) for tag, attrs in dom.elements for name in attrs if name.startswith("on")]
    sources = [attrs.get("src") or "" for tag, attrs in dom.elements if tag == "img"]
    assert sources and all(src.startswith("r_files/") for src in sources), sources
    text = "".join(dom.text)
    assert f"crashed: {SHOWN} [click](javascript:alert(3)) a|b" in text  # the diagnosis, word for word
    assert any(SHOWN in block for block in dom.code)  # the stderr tail, verbatim


def test_markdown_and_html_of_one_stem_link_the_same_assets(crashed: CompareRun, tmp_path: Path) -> None:
    md, page = tmp_path / "r.md", tmp_path / "r.html"
    write_outputs(crashed.doc, {"md": md, "html": page}, crashed.run_root)
    text = re.sub(r"(?ms)^(`{3,})text\n.*?^\1$", "", md.read_text())  # code blocks show the stderr verbatim
    md_links = set(re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text))
    html_links = {attrs["src"] for tag, attrs in Dom(page.read_text()).elements if tag == "img"}
    assert md_links == html_links and len(md_links) >= 4  # thumbnails, heatmap, its key, histograms
    assert all((tmp_path / link).is_file() for link in md_links)


def test_report_offers_exactly_the_registered_formats(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["report", str(SEED_JSON), "--format", "nope"])
    assert result.exit_code == 2
    offered = re.search(r"'nope' is not one of (.*)\.", " ".join(result.output.split()))
    assert offered is not None, result.output
    assert re.findall(r"'([^']+)'", offered.group(1)) == list(COMPARE_EXPORTERS)


@pytest.mark.parametrize("fmt", list(COMPARE_EXPORTERS))
def test_every_registered_exporter_resolves(fmt: str) -> None:
    assert callable(COMPARE_EXPORTERS[fmt].writer())


@pytest.mark.parametrize(
    "fmt, written, starts",
    [
        ("md", "c.md", b"# evalharness compare: base vs same, pixel, crash"),
        ("html", "c.html", b"<!DOCTYPE html>"),
        ("json", "c.json", b"{"),
        ("junit", "c.xml", b"<?xml"),
        ("github", "c-summary.md", b"## evalharness"),
        ("histogram", "c-histogram-period.png", b"\x89PNG"),
    ],
)
def test_report_writes_each_format_beside_the_json_by_its_suffix(crashed: CompareRun, tmp_path: Path, fmt: str,
                                                                 written: str, starts: bytes) -> None:
    stored = tmp_path / "c.json"
    crashed.doc.save(stored)
    result = CliRunner().invoke(main, ["report", str(stored), "--format", fmt])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == f"written: {tmp_path / written}"
    assert (tmp_path / written).read_bytes().startswith(starts)


def test_a_leaderboard_format_of_a_compare_without_agents_is_refused(crashed: CompareRun, tmp_path: Path) -> None:
    stored = tmp_path / "c.json"
    crashed.doc.save(stored)
    result = CliRunner().invoke(main, ["report", str(stored), "--format", "leaderboard-md"])
    assert result.exit_code == 2 and "no leaderboard: no candidate came with an agent" in result.output
    assert not (tmp_path / "c-leaderboard.md").exists()


def test_compare_report_path_ending_in_html_gets_the_html_report(fake_repo: Path, tmp_path: Path) -> None:
    page = tmp_path / "out" / "r.html"
    argv = ["compare", "base", "same", "--quick", "--repo", str(fake_repo), "--work-dir", str(tmp_path / "w"),
            "--preset", "small", "--report", str(page)]
    result = CliRunner().invoke(main, argv, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    dom = Dom(page.read_text())
    assert [row[0] for row in dom.tables["summary"][1:]] == ["same"]  # --quick: no noise-floor row
    assert not (tmp_path / "out" / "r.md").exists()
