"""Checks on the headed terminal tables that compare and check print."""

from __future__ import annotations


def columns_line_up(lines: list[str], headers: list[str]) -> None:
    """Every row of a headed terminal table starts each column where its header does."""
    head, rule, *rows = lines
    starts = [head.index(h) for h in headers]
    assert set(rule) == {"-", " "} and rows
    for row in rows:
        assert all(row[s - 1] == " " and row[s] != " " for s in starts[1:] if len(row) > s), (head, row)
