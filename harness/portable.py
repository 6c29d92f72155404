"""Machine paths out of what is shared: the work folder, the current folder and home get short aliases.

A compare document is committed, uploaded as a CI artifact and pasted into
pull requests. Its own paths are relative already, but text the runs wrote
(a stderr tail, a crash diagnosis, a warning) quotes run-folder paths such as
`/tmp/evalharness-4242/9f3a0c1b2d4e/src/train.py` (a run's sandbox) or the
work folder. Every string of the document goes through the same replacement:
a run's sandbox becomes `<sandbox>`, the work folder `<work-dir>`, the current
folder `.`, the home folder `~`, longest first and only at path boundaries.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from harness.executors.sandbox import SCRATCH
from harness.results import CompareDocument

WORK_ALIAS = "<work-dir>"
SANDBOX_ALIAS = "<sandbox>"
PYTHON_ALIAS = "<python>"
#: A run's sandbox, whichever harness process made it (executors/sandbox.new_sandbox).
SANDBOX = re.compile(re.escape(str(SCRATCH)) + r"/evalharness-\d+/[0-9a-f]{12}(?![\w.-])")


def aliases(work_dir: Path, python: dict[str, object] | None = None) -> dict[str, str]:
    """Absolute path → alias, longest first (the work folder usually lies inside the current one); the runs'
    interpreter's prefixes (a traceback's site-packages paths) become `<python>`."""
    prefixes = {str(python[k]): PYTHON_ALIAS for k in ("prefix", "base_prefix") if python and python.get(k)}
    found = {**prefixes, str(work_dir.resolve()): WORK_ALIAS, str(Path.cwd()): ".", str(Path.home()): "~"}
    usable = {path: alias for path, alias in found.items() if path not in ("/", "")}
    return dict(sorted(usable.items(), key=lambda item: len(item[0]), reverse=True))


def scrub_text(text: str, table: dict[str, str]) -> str:
    """Each absolute path of `table` replaced where it ends at a path boundary (`/tmp/a` never hits `/tmp/ab`)."""
    text = SANDBOX.sub(SANDBOX_ALIAS, text)
    for path, alias in table.items():
        text = re.sub(re.escape(path) + r"(?![\w.-])", lambda _m, a=alias: a, text)
    return text


def scrub_document(doc: CompareDocument, table: dict[str, str]) -> CompareDocument:
    """The document with every string scrubbed (through its JSON, so no field is forgotten)."""
    escaped = {json.dumps(path)[1:-1]: json.dumps(alias)[1:-1] for path, alias in table.items()}
    return CompareDocument.from_json(scrub_text(doc.to_json(), escaped))
