"""What GitHub Actions reads: the job summary (markdown) and annotations on the flagged diff lines.

The summary is appended to the file `GITHUB_STEP_SUMMARY` names (other steps
write there too). It renders on the run page, far from any run folder, so it
holds no image and no relative link: verdicts, reasons and numbers inline,
and a pointer to the uploaded report. Annotations are workflow commands
printed on stdout (`::error file=…,line=…::message`): an error on every
flagged line of a candidate that fails the gate, a warning on those of one
that passes, and one error per failing candidate.
"""

from __future__ import annotations

from pathlib import Path

from harness.export import caveats, safe
from harness.judge import gate
from harness.results import CandidateVerdict, CompareDocument, Flag, PhaseVerdict

DASH = "–"


def write(doc: CompareDocument, path: Path, run_root: Path | None) -> Path:
    """Append the summary to `path` (the step summary file is shared by the job's steps)."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(summary(doc))
    return path


# --------------------------------------------------------------------------- #
# The job summary (pure)
# --------------------------------------------------------------------------- #


def summary(doc: CompareDocument) -> str:
    """Heading, one row per candidate, the reasons, the noise floor; markdown, no images."""
    failed = gate.failures(doc)
    rule = gate.rule_of(doc)
    head = (f"## evalharness check: {len(failed)} of {len(doc.candidates)} failed" if failed
            else f"## evalharness check: all {len(doc.candidates)} passed")
    lines = [head, "", _context(doc, rule), "", _table(doc, failed)]
    if failed:
        lines += ["", "**Why**", "", *(f"- **{_cell(n)}**: {_cell(why)}" for n, why in failed.items())]
    lines += _flag_lines(doc) + _footer(doc)
    return "\n".join(lines) + "\n"


def _context(doc: CompareDocument, rule: str) -> str:
    s = doc.settings
    speed = "speed not judged (one run each)" if s.quick else f"{s.rounds} paired rounds, threshold {s.threshold:.0%}"
    return (f"Baseline `{_cell(doc.baseline)}` (`{doc.baseline_sha[:12]}`) · task {doc.task.name}, preset "
            f"{doc.task.preset or DASH} · fails on: **{rule}** · {speed} · device {s.device}")


def _table(doc: CompareDocument, failed: dict[str, str]) -> str:
    """Speed columns only where speed was judged: a single unpaired run (maybe a cached one) says nothing."""
    primary, judged = doc.task.primary_phase, not doc.settings.quick
    header = ["gate", "candidate", "commit", "verdict", "losses match", "images identical",
              *([f"{primary} speedup", f"{primary} median s"] if judged else []), "diagnosis"]
    rows = [_row(c, c.name not in failed, primary, judged) for c in doc.candidates]
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *rows])


def _row(c: CandidateVerdict, ok: bool, primary: str, judged: bool) -> str:
    median = c.timing.get(primary)
    speed = [_speedup(c.speed.get(primary)), f"{median.median:.3f}" if median else DASH] if judged else []
    cells = ["✅ pass" if ok else "❌ fail", f"**{_cell(c.name)}**", f"`{c.sha[:12]}`", _cell(c.verdict),
             _yes_no(c.losses_match), _yes_no(c.images_identical), *speed, _cell(c.diagnosis)]
    return "| " + " | ".join(cells) + " |"


def _speedup(v: PhaseVerdict | None) -> str:
    if v is None or v.speedup is None:
        return DASH
    ci = f" [{v.ci[0]:.2f}, {v.ci[1]:.2f}]" if v.ci and None not in v.ci else ""
    return f"{v.speedup:.2f}×{ci}"


def _flag_lines(doc: CompareDocument) -> list[str]:
    items = [f"- {_cell(c.name)}: {_cell(f.category)} at `{_cell(_where(f))}`" for c in doc.candidates for f in c.flags]
    return ["", "**Diff lines to review**", "", *items] if items else []


def _footer(doc: CompareDocument) -> list[str]:
    """Warnings merged per branch (none about speed when the gate ran one run each), the noise floor, provenance."""
    lines = [f"- ⚠️ {_cell(w)}" for w in caveats.for_gate(doc)]
    if doc.noise_floor is not None:
        lines.append(f"- noise floor (baseline vs baseline, {doc.task.primary_phase}): ±{doc.noise_floor.floor:.1%}")
    h = doc.harness
    lines.append(f"- evalharness {h.version}" + (f" (`{h.commit[:12]}`)" if h.commit else "")
                 + " · the full report with images is in the uploaded artifact")
    return ["", *lines]


def _where(flag: Flag) -> str:
    return f"{flag.file}:{flag.line}" if flag.line is not None else flag.file


def _cell(text: str) -> str:
    return safe.inline(text)


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


# --------------------------------------------------------------------------- #
# Annotations (pure): workflow command lines for stdout
# --------------------------------------------------------------------------- #


def annotations(doc: CompareDocument) -> list[str]:
    """One error per failing candidate, then one error/warning per flagged diff line."""
    failed = gate.failures(doc)
    lines = [_command("error", {"title": f"evalharness: {name} fails the gate"}, why) for name, why in failed.items()]
    for c in doc.candidates:
        level = "error" if c.name in failed else "warning"
        lines += [flag_annotation(level, c.name, f) for f in c.flags]
    return lines


def flag_annotation(level: str, candidate: str, flag: Flag) -> str:
    """An added line is annotated where it is; a removed one only names the file (its line is the baseline's)."""
    added = flag.text.startswith("+")
    props = {"file": flag.file, **({"line": str(flag.line)} if added and flag.line is not None else {}),
             "title": f"evalharness: {flag.category} ({candidate})"}
    where = "" if added or flag.line is None else f" (removed; line {flag.line} of the baseline)"
    return _command(level, props, f"{flag.category}{where}: {flag.text}")


def _command(level: str, props: dict[str, str], message: str) -> str:
    """`::level key=value,...::message` with GitHub's escaping (data: % CR LF; properties also : and ,)."""
    joined = ",".join(f"{k}={_escape_property(v)}" for k, v in props.items())
    return f"::{level} {joined}::{_escape_data(message)}"


def _escape_data(text: str) -> str:
    return safe.plain(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
