"""Diff lines a speed or equivalence claim must not hide: seeds, RNG, threads, precision, the clock.

These patterns are about training scripts in general; a task adds its own
(its log line format, say) in its TOML `[flags]` table. Each flag carries the
file and the line number in the candidate's version, read from the hunk
headers, so CI can annotate the exact line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from harness.results import Flag

GENERIC_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("seeds", re.compile(r"manual_seed|\bseed\s*\(|random\.seed|np\.random\.seed|default_rng|Generator\(")),
    ("RNG draws or state", re.compile(r"fork_rng|[gs]et_rng_state|torch\.(rand|randn|randint|randperm|normal|bernoulli|multinomial)\(|np\.random\.|\brandom\.(random|randint|choice|shuffle)\(")),
    ("thread counts", re.compile(r"set_num_threads|set_num_interop_threads|OMP_NUM_THREADS|MKL_NUM_THREADS|OPENBLAS_NUM_THREADS")),
    ("precision switches", re.compile(r"allow_tf32|set_float32_matmul_precision|cudnn\.benchmark|use_deterministic_algorithms|autocast|\.half\(|bfloat16|float16")),
    ("logging or timing code", re.compile(r"\blogging\.|\blogger\.|basicConfig|Formatter|perf_counter|time\.time\(|monotonic")),
)
HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


def _changed_lines(diff: str) -> Iterable[tuple[str, int | None, str]]:
    """(file, line number in the new file — or the old one for a removal, text) of each changed line."""
    current, old_no, new_no = "?", None, None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            current = line[6:] if line.startswith("+++ b/") else line[4:]
        elif line.startswith("--- "):
            continue
        elif (m := HUNK.match(line)) is not None:
            old_no, new_no = int(m[1]), int(m[2])
        elif line.startswith("+") and new_no is not None:
            yield current, new_no, line
            new_no += 1
        elif line.startswith("-") and old_no is not None:
            yield current, old_no, line
            old_no += 1
        elif line.startswith(" ") and old_no is not None and new_no is not None:
            old_no, new_no = old_no + 1, new_no + 1


def scan_flags(diff: str, extra: Iterable[tuple[str, re.Pattern[str]]] = ()) -> list[Flag]:
    """Every changed line matching a generic or task pattern, once per category."""
    patterns = [*GENERIC_PATTERNS, *extra]
    flags = []
    for file, number, line in _changed_lines(diff):
        for category in dict.fromkeys(cat for cat, pattern in patterns if pattern.search(line)):
            flags.append(Flag(category=category, file=file, line=number, text=line[:120].strip()))
    return flags


def flag_text(flag: Flag) -> str:
    """'category: file:line: + text', the form a report lists."""
    where = f"{flag.file}:{flag.line}" if flag.line is not None else flag.file
    return f"{flag.category}: {where}: {flag.text}"
