"""JUnit XML of a compare: what every CI system reads (one test case per candidate).

A candidate that fails the document's gate rule (`judge/gate.py`) is a
<failure> whose message is the verdict and diagnosis; its flagged diff lines,
warnings and stderr tail are the failure's text. Timings go in as properties
(suite: baseline medians and the noise floor; case: the candidate's medians,
speedups, CIs and p-values), so a CI dashboard can chart them. The XML is
built with junitparser, never by hand.
"""

from __future__ import annotations

import re
from pathlib import Path

from junitparser import Failure, JUnitXml, Properties, Property, TestCase, TestSuite

from harness.export import caveats
from harness.judge import gate
from harness.judge.flags import flag_text
from harness.results import CandidateVerdict, CompareDocument, PhaseVerdict, Summary

#: Characters XML 1.0 cannot hold: a candidate's stderr must not make the file unparseable (and the failure unseen).
NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def write(doc: CompareDocument, path: Path, run_root: Path | None) -> Path:
    """The JUnit file for `doc` (run_root unused: the XML links no files)."""
    xml = JUnitXml("evalharness")
    xml.add_testsuite(suite(doc))
    xml.write(str(path), pretty=True)
    return path


def suite(doc: CompareDocument) -> TestSuite:
    """One suite per compare: named after the baseline, properties for what was compared and how."""
    failed = gate.failures(doc)
    s = TestSuite(f"evalharness {doc.task.name} vs {doc.baseline}")
    s.timestamp = doc.created
    for name, value in suite_properties(doc).items():
        s.add_property(name, clean(value))
    s.add_testcases([case(doc, c, failed.get(c.name)) for c in doc.candidates])
    return s


def suite_properties(doc: CompareDocument) -> dict[str, str]:
    s, h = doc.settings, doc.harness
    props = {"baseline": doc.baseline, "baseline_sha": doc.baseline_sha, "task": doc.task.name,
             "preset": doc.task.preset or "", "fail_on": gate.rule_of(doc), "rounds": str(s.rounds),
             "device": s.device, "threshold": f"{s.threshold:g}", "harness_version": h.version,
             "harness_commit": h.commit or "", "command_line": " ".join(h.command_line)}
    props |= _timing_properties("baseline", doc.baseline_timing)
    if doc.noise_floor is not None:
        props["noise_floor"] = f"{doc.noise_floor.floor:.4f}"
    return props


def case(doc: CompareDocument, c: CandidateVerdict, why: str | None) -> TestCase:
    """One candidate: passed, or a failure saying why; its timings as properties."""
    wall = c.timing.get("wall")
    tc = TestCase(clean(c.name), classname=f"evalharness.{doc.task.name}.{doc.baseline}",
                  time=wall.median if wall else None)
    if why is not None:
        failure = Failure(message=clean(why), type_=clean(c.verdict))
        failure.text = clean(failure_text(c))
        tc.result = [failure]
    props = Properties()
    for name, value in case_properties(c, not doc.settings.quick).items():
        props.add_property(Property(name, clean(value)))
    tc.append(props)
    return tc


def case_properties(c: CandidateVerdict, judged: bool) -> dict[str, str]:
    """Verdict, medians; speedups, CIs and p-values only where speed was judged (not from one unpaired run)."""
    props = {"sha": c.sha, "status": c.status, "verdict": c.verdict, "diagnosis": c.diagnosis,
             "equivalent": _bool(c.equivalent), "losses_match": _bool(c.losses_match),
             "images_identical": _bool(c.images_identical)}
    props |= _timing_properties("candidate", c.timing)
    for phase, v in c.speed.items():
        props |= _speed_properties(phase, v) if judged else {f"speed.{phase}.verdict": v.verdict}
    return props


def _timing_properties(side: str, timing: dict[str, Summary | None]) -> dict[str, str]:
    return {f"{side}.{phase}.median": f"{s.median:.6g}" for phase, s in timing.items() if s is not None}


def _speed_properties(phase: str, v: PhaseVerdict) -> dict[str, str]:
    props = {f"speed.{phase}.verdict": v.verdict}
    if v.speedup is not None:
        props[f"speed.{phase}.speedup"] = f"{v.speedup:.4f}"
    if v.ci and None not in v.ci:
        props[f"speed.{phase}.ci"] = f"{v.ci[0]:.4f},{v.ci[1]:.4f}"
    if v.p_value is not None:
        props[f"speed.{phase}.p_value"] = f"{v.p_value:.4g}"
    return props


def failure_text(c: CandidateVerdict) -> str:
    """What a reviewer reads under the failure: diagnosis, flagged diff lines, warnings, stderr."""
    parts = [gate.reason(c)]
    parts += [f"flag: {flag_text(f)}" for f in c.flags] + [f"warning: {w}" for w in caveats.merged(c.warnings, [c.name])]
    if c.stderr_tail.strip():
        parts += ["stderr:", c.stderr_tail.rstrip()]
    return "\n".join(parts)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def clean(text: str) -> str:
    """Text with the characters XML cannot carry replaced by U+FFFD."""
    return NOT_XML.sub("\ufffd", text)
