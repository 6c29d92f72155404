"""Typed results: the JSON Schema files match the models, and real documents validate against them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from harness.commands.compare import run_compare
from harness.executors.fake import FakeExecutor
from harness.plan import CompareOptions
from harness.results import SCHEMA_DIR, SCHEMA_FILES, CompareDocument, RunResult, json_schema
from scripted import Behaviour, script

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(SCHEMA_FILES))
def test_schema_files_are_generated_from_the_models(name: str) -> None:
    committed = json.loads((SCHEMA_DIR / name).read_text())
    assert committed == json_schema(SCHEMA_FILES[name]), "run `python -m harness.results` to regenerate"


def test_compare_and_run_documents_validate_against_the_schema_files(fake_repo: Path, tmp_path: Path) -> None:
    opts = CompareOptions(baseline="base", preset="small", candidates=["rng", "crash"], repo=str(fake_repo), work_dir=tmp_path,
                          repeat=2, threads=1, variants=0)
    behaviours = {"rng": Behaviour(losses=(0.9, 0.4, 0.3, 0.2)), "crash": Behaviour(status="crashed")}
    done = run_compare(opts, FakeExecutor(script(behaviours)))
    compare_schema = json.loads((SCHEMA_DIR / "compare.schema.json").read_text())
    jsonschema.validate(json.loads((done.run_root / "compare.json").read_text()), compare_schema)
    run_schema = json.loads((SCHEMA_DIR / "run.schema.json").read_text())
    results = sorted(done.run_root.glob("*/rep-*/result.json"))
    assert len(results) == 4  # the equivalence round only: neither candidate goes on to timing
    for path in results:
        jsonschema.validate(json.loads(path.read_text()), run_schema)
        assert RunResult.load(path).label in {"base", "base.self", "rng", "crash"}


def test_a_compare_2_document_is_read_its_calls_from_its_words_and_stays_compare_2() -> None:
    """The previous version's seed report (no per-round values, verdicts only in words): still read, its
    calls read from its words, written back as /2 and read back to the same model."""
    path = REPO_ROOT / "tests" / "data" / "compare-v2.json"
    doc = CompareDocument.load(path)
    assert doc.schema_ == "evalharness.compare/2" and not doc.per_round and doc.samples == {}
    assert [(c.verdict, c.outcome, c.speed_call) for c in doc.candidates] == [
        ("equivalent, inconclusive (noise ±7 %)", "equivalent", None),
        ("equivalent, inconclusive (noise ±43 %)", "equivalent", None),
        ("NOT equivalent", "not_equivalent", None), ("equivalent, faster", "equivalent", "better")]
    assert CompareDocument.from_json(doc.to_json()) == doc and "samples" not in json.loads(doc.to_json())


def test_a_wrong_schema_version_is_named() -> None:
    with pytest.raises(ValueError, match="schema 'evalharness.run/1', expected 'evalharness.run/3'"):
        RunResult.from_json('{"schema": "evalharness.run/1"}')
    with pytest.raises(ValueError, match="schema 'evalharness.compare/4', expected 'evalharness.compare/3' or "
                                         "'evalharness.compare/2' "):
        CompareDocument.from_json('{"schema": "evalharness.compare/4"}')


REJUDGE = """
import sys
from pathlib import Path
from harness.commands.compare import document_of
sys.stdout.write(document_of(Path(sys.argv[1])).to_json())
"""


def test_a_stored_run_folder_is_judged_again_to_the_same_document(fake_repo: Path, tmp_path: Path) -> None:
    """The judge is a function of the run folder: judge.json and the results. In a fresh interpreter, with
    nothing of the compare in memory, it gives back compare.json byte for byte."""
    opts = CompareOptions(baseline="base", candidates=["same", "rng", "slow"], repo=str(fake_repo), preset="small",
                          work_dir=tmp_path / "work", repeat=2, variants=0, threads=1)
    done = run_compare(opts)
    stored = (done.run_root / "compare.json").read_text()
    again = subprocess.run([sys.executable, "-c", REJUDGE, str(done.run_root)], capture_output=True, text=True,
                           check=True, cwd=Path(__file__).resolve().parents[1])
    assert again.stdout == stored
    facts = json.loads((done.run_root / "judge.json").read_text())
    assert facts["schema"] == "evalharness.facts/1" and set(facts["runs"]) == {"base", "base.self", "same", "rng",
                                                                                  "slow"}
