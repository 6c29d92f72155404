"""Stage 5: every output format is an exporter, and all of them are written from here.

An exporter turns a typed document into files (hyperfine's one-Exporter-per-
format). Commands never open an output file themselves: they call
`write_outputs` with the formats the user asked for, so a new format (JUnit,
a CI summary) is one module and one registry line — and `evalharness report
--format` offers it. The sweep's outputs take a sweep table instead of a
CompareDocument, so they have their own registry (`SWEEP_EXPORTERS`).

A registry entry names its writer as "module:function", imported when the
format is written: listing the formats (the CLI's --help) imports no writer,
chart or pydantic model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import UsageProblem

if TYPE_CHECKING:
    from harness.export.sweep import SweepTable
    from harness.results import CompareDocument

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Exporter:
    """One output format: where its writer lives, the ending of its default file name, and what it writes."""

    target: str  # "module:function"
    suffix: str  # `report X.json --format F` writes X<suffix> unless --out says otherwise
    what: str

    def writer(self) -> Callable[..., Path]:
        module, _, name = self.target.partition(":")
        return getattr(import_module(module), name)


def write_json(doc: CompareDocument, path: Path, run_root: Path | None) -> Path:
    """The document itself (self-describing: it loads back with CompareDocument.load)."""
    doc.save(path)
    return path


#: format → exporter of a compare: writer(document, path, run folder or None) → the path written.
COMPARE_EXPORTERS: dict[str, Exporter] = {
    "md": Exporter("harness.export.report:write_md", ".md", "the report, charts and thumbnails in <stem>_files/"),
    "html": Exporter("harness.export.report:write_html", ".html", "the same report as one HTML page, same asset folder"),
    "json": Exporter("harness.export:write_json", ".json", "the compare document"),
    "junit": Exporter("harness.export.junit:write", ".xml", "JUnit XML, one test case per candidate"),
    "github": Exporter("harness.export.github:write", "-summary.md", "a GitHub Actions job summary"),
    "leaderboard-md": Exporter("harness.export.leaderboard:write_md", "-leaderboard.md", "the agents' leaderboard"),
    "leaderboard-csv": Exporter("harness.export.leaderboard:write_csv", "-leaderboard.csv", "the leaderboard as CSV"),
    "leaderboard-png": Exporter("harness.export.leaderboard:write_png", "-leaderboard.png", "the leaderboard's plot"),
    "histogram": Exporter("harness.export.histogram:write", "-histogram.png",
                          "timing histograms, one PNG per phase: <stem>-<phase>.png"),
}
#: format → exporter of a sweep: writer(sweep table, path) → the path written.
SWEEP_EXPORTERS: dict[str, Exporter] = {
    "csv": Exporter("harness.export.sweep:write_csv", ".csv", "every number of the sweep table, unrounded"),
    "md": Exporter("harness.export.sweep:write_md", ".md", "the sweep table for people, speedups with their spread"),
    "png": Exporter("harness.export.sweep:write_png", ".png", "speedups (or seconds) against the grid axis"),
}
#: How the user named each format's path (for error messages).
OPTION_OF = {"md": "--report", "html": "--report", "github": "GITHUB_STEP_SUMMARY"}
#: Report formats chosen by the path's suffix (`compare --report r.html`); any other suffix: markdown.
REPORT_SUFFIXES = {".html": "html", ".htm": "html"}


def report_format(path: Path) -> str:
    """The report format a --report path asks for by its suffix."""
    return REPORT_SUFFIXES.get(path.suffix.lower(), "md")


def default_path(source: Path, fmt: str) -> Path:
    """Where `report SOURCE --format FMT` writes without --out: beside the source, named by the format's suffix."""
    return source.with_name(source.stem + COMPARE_EXPORTERS[fmt].suffix)


def check_writable(targets: dict[str, Path]) -> None:
    """Refuse before any run an output path that cannot be written: by trying (permissions, read-only mounts)."""
    for fmt, path in targets.items():
        if fmt not in COMPARE_EXPORTERS:
            raise UsageProblem(f"unknown output format {fmt!r} (known: {', '.join(COMPARE_EXPORTERS)})")
        problem = _write_problem(path)
        if problem is not None:
            raise UsageProblem(f"{OPTION_OF.get(fmt, '--' + fmt)} {path}: not a writable file path ({problem})")


def _write_problem(path: Path) -> str | None:
    """Why `path` cannot be written, or None: the file is opened for append in its folder (made if missing);
    a file and folders made only for the probe are removed again, so a refused command leaves no `reports/`."""
    if path.is_dir():
        return "it is a folder"
    existed = path.exists()
    made = [p for p in [path.parent, *path.parent.parents] if not p.exists()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab"):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        if not existed:
            path.unlink(missing_ok=True)
            for folder in made:  # deepest first; one something else wrote into meanwhile stays
                _remove_if_empty(folder)
    return None


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def write_outputs(doc: CompareDocument, targets: dict[str, Path], run_root: Path | None) -> list[Path]:
    """Write the document in every requested format; returns the paths written."""
    written = []
    for fmt, path in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        written.append(COMPARE_EXPORTERS[fmt].writer()(doc, path, run_root))
        log.info("wrote %s", path)
    return written


def sweep_targets(out_dir: Path, stem: str = "sweep") -> dict[str, Path]:
    """Every sweep format, as `<stem><suffix>` in out_dir."""
    return {fmt: out_dir / f"{stem}{e.suffix}" for fmt, e in SWEEP_EXPORTERS.items()}


def write_sweep_outputs(table: SweepTable, targets: dict[str, Path]) -> dict[str, Path]:
    """Write the sweep table in every requested format; format → the path written."""
    written = {}
    for fmt, path in targets.items():
        if fmt not in SWEEP_EXPORTERS:
            raise UsageProblem(f"unknown sweep output format {fmt!r} (known: {', '.join(SWEEP_EXPORTERS)})")
        path.parent.mkdir(parents=True, exist_ok=True)
        written[fmt] = SWEEP_EXPORTERS[fmt].writer()(table, path)
    log.info("wrote the sweep table to %s", ", ".join(str(p) for p in written.values()))
    return written
