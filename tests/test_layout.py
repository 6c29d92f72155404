"""The generic harness knows no task words: those live in the task's own folder."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[1] / "harness"
TASK_WORDS = ("save_interval", "Visualization", "polytope", '"shape"')


def generic_modules() -> list[Path]:
    return [p for p in sorted(HARNESS.rglob("*.py")) if "tasks" not in p.relative_to(HARNESS).parts[:1]
            or p.parent == HARNESS / "tasks"]


@pytest.mark.parametrize("word", TASK_WORDS)
def test_no_task_word_outside_the_tasks_folders(word: str) -> None:
    hits = [f"{p.relative_to(HARNESS)}:{n}" for p in generic_modules()
            for n, line in enumerate(p.read_text().splitlines(), start=1) if word in line]
    assert not hits, f"{word!r} in generic code: {hits}"


def test_the_generic_modules_are_really_scanned() -> None:
    names = {p.relative_to(HARNESS).as_posix() for p in generic_modules()}
    assert {"collect.py", "judge/equivalence.py", "rounds.py", "tasks/__init__.py", "tasks/base.py"} <= names
    assert not any(re.match(r"tasks/polytope/", n) for n in names)


def _module(path: Path) -> str:
    parts = list(path.relative_to(HARNESS.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, known: set[str]) -> set[str]:
    """The harness modules a module imports, wherever in it (a function-level import is a dependency too),
    except under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                   for n in ast.walk(node)}
    name, found = _module(path), set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
            base = ".".join([*package[:len(package) - node.level + 1], *([node.module] if node.module else [])]) \
                if node.level else node.module or ""
            found |= {base, *(f"{base}.{a.name}" for a in node.names)}
    return {m for m in found if m in known and m != name}


def import_cycles() -> list[list[str]]:
    """Strongly connected groups of harness modules (Tarjan): each one is an import circle."""
    paths = {_module(p): p for p in HARNESS.rglob("*.py") if "source" not in p.relative_to(HARNESS).parts}
    graph = {m: _imports(p, set(paths)) for m, p in paths.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while (w := stack.pop()) != v:
                group.append(w)
            if group:
                cycles.append(sorted([v, *group]))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_no_import_circle_anywhere() -> None:
    """The driver asks the judge; the judge never imports the driver back (nor any module a circle)."""
    assert import_cycles() == []


def test_the_judge_imports_nothing_that_runs() -> None:
    paths = {_module(p): p for p in HARNESS.rglob("*.py")}
    runners = {"harness.schedule", "harness.rounds", "harness.runner", "harness.variants", "harness.isolation",
               "harness.executors", "harness.cache", "harness.checkout", "harness.trees"}
    for name, path in paths.items():
        if name.startswith("harness.judge"):
            assert not (_imports(path, set(paths)) & runners), name


#: Code that decides by searching a verdict's words ("slower" in verdict, verdict == "faster", …).
WORD_SEARCH = re.compile(r"\.verdict\s*(?:==|!=|\.startswith)|\bin\s+\w+\.verdict\b|\.verdict\s+in\s*\(")


def test_no_decision_searches_the_words_of_a_verdict() -> None:
    """Outcome, speed call, guard and trust are fields; the words are for readers (exporters) only."""
    hits = [f"{p.relative_to(HARNESS)}:{n}" for p in sorted(HARNESS.rglob("*.py"))
            if "export" not in p.relative_to(HARNESS).parts and "source" not in p.relative_to(HARNESS).parts
            for n, line in enumerate(p.read_text().splitlines(), start=1) if WORD_SEARCH.search(line)]
    assert hits == []


def test_stages_read_their_own_settings_not_the_parsed_options() -> None:
    """CompareOptions is what a command parsed; plan_compare splits it into Lineup, Schedule, Running and Judging,
    and every stage past the plan reads its own group (the plan keeps no `opts`)."""
    from harness.plan import Plan

    assert "opts" not in Plan.__dataclass_fields__
    hits = [f"{p.relative_to(HARNESS)}:{n}" for p in sorted(HARNESS.rglob("*.py")) if p.name != "plan.py"
            for n, line in enumerate(p.read_text().splitlines(), start=1) if "plan.opts" in line]
    assert hits == []


def test_every_command_module_owns_its_command_and_the_group_finds_it() -> None:
    """A command is a module of harness/commands with a click `command`; cli.py declares no command's options."""
    import importlib

    import click

    from harness.cli import command_names, main

    names = command_names()
    assert {"compare", "check", "sweep", "init", "compare-results", "history"} <= set(names)
    for name, module in names.items():
        command = importlib.import_module(f"harness.commands.{module}").command
        assert isinstance(command, click.Command) and main.get_command(None, name) is command, name
        assert command.name == name
    assert "@click.option" not in (HARNESS / "cli.py").read_text().replace("@click.option(\"-v\"", "").replace(
        "@click.option(\"-q\"", "")
