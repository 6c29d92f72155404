"""Stage 5: every output format is an exporter, and all of them are written from here.

An exporter turns a typed document into files (hyperfine's one-Exporter-per-
format). Commands never open an output file themselves: they call
`write_outputs` with the formats the user asked for, so a new format (JUnit,
a CI summary) is one module and one registry line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from harness.errors import UsageProblem
from harness.export import github, histogram, junit, leaderboard, report
from harness.results import CompareDocument

log = logging.getLogger(__name__)

#: format name → writer(document, path, run folder or None) → the path written
Writer = Callable[[CompareDocument, Path, Path | None], Path]


def _write_json(doc: CompareDocument, path: Path, run_root: Path | None) -> Path:
    doc.save(path)
    return path


COMPARE_EXPORTERS: dict[str, Writer] = {"md": report.write_md, "json": _write_json, "junit": junit.write,
                                         "github": github.write, "leaderboard-md": leaderboard.write_md,
                                         "leaderboard-csv": leaderboard.write_csv, "leaderboard-png": leaderboard.write_png}
COMPARE_EXPORTERS["histogram"] = histogram.write  # one PNG per phase, `<stem>-<phase>.png` beside the path
#: How the user named each format's path (for error messages).
OPTION_OF = {"md": "--report", "github": "GITHUB_STEP_SUMMARY"}


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
        written.append(COMPARE_EXPORTERS[fmt](doc, path, run_root))
        log.info("wrote %s", path)
    return written
