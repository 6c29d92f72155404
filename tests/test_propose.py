"""What `evalharness init` proposes from two runs' printed lines and files (the pure part, no runs)."""

from __future__ import annotations

import re

from harness.tasks.propose import propose

RUN = ["step 10: train loss 3.6209", "step 10: eval loss 3.6682", "sample: hello wor",
       "step 20: train loss 3.1000", "step 20: eval loss 3.2000", "sample: hello world",
       "the quick brown fox"]


def test_metric_lines_become_patterns_keyed_by_their_step() -> None:
    found = propose(RUN, RUN, ({}, {}))
    assert found.step_key == "step" and found.metrics == list(found.patterns) and len(found.metrics) == 2
    train, evaluation = (re.compile(p) for p in found.patterns.values())
    assert train.match("step 30: train loss 2.5")["step"] == "30" and not train.match("step 30: eval loss 2.5")
    assert evaluation.match("step 30: eval loss 2.5")


def test_labelled_text_printed_alike_is_compared_and_other_lines_are_named_as_left_out() -> None:
    found = propose(RUN, RUN, ({}, {}))
    assert [re.match(p, "sample: abc")["text"] for p in found.texts.values()] == ["abc"]
    assert found.left_out == ["1 other printed line(s), e.g. 'the quick brown fox': in no pattern; to compare them, "
                              "add a [log.text] pattern with a (?P<text>…) group"]


def test_values_that_differ_between_two_runs_of_one_commit_are_left_out() -> None:
    first = [f"iter {i} | loss {3 - i / 100:.4f} | {t} ms" for i, t in ((10, 12.5), (20, 11.0), (30, 13.1))]
    second = [f"iter {i} | loss {3 - i / 100:.4f} | {t} ms" for i, t in ((10, 12.9), (20, 10.7), (30, 12.2))]
    found = propose(first, second, ({}, {}))
    (pattern,) = found.patterns.values()
    assert found.step_key == "iter" and set(re.compile(pattern).groupindex) == {"iter", "loss"}
    assert found.left_out == ["metrics: 1 value(s) differ between two runs of the same commit (times?), not compared"]


def test_files_written_alike_are_artifacts_and_the_others_are_named() -> None:
    found = propose([], [], ({"model.pt": "a", "log/run.json": "b"}, {"model.pt": "a", "log/run.json": "c"}))
    assert found.artifacts == ["model.pt"]
    assert found.left_out == ["file log/run.json: differs between two runs of the same commit"]


def test_a_counter_line_is_text_not_a_metric_and_not_called_a_time() -> None:
    """pytorch/examples' time_sequence_prediction prints 'STEP:  0', then 'loss: …' lines without a step:
    nothing is a metric line; the labelled lines are compared as printed text, and nothing is said to differ."""
    run = ["STEP:  0", "loss: 0.52", "loss: 0.49", "test loss: 0.61", "STEP:  1", "loss: 0.31", "test loss: 0.40"]
    found = propose(run, run, ({}, {}))
    assert found.patterns == {} and found.metrics == []
    assert list(found.texts) == ["step", "loss", "test_loss"] and found.left_out == []


def test_unlabelled_counter_lines_are_named_as_left_out() -> None:
    run = ["iteration 1", "iteration 2", "done"]
    found = propose(run, run, ({}, {}))
    assert found.left_out == ["3 other printed line(s), e.g. 'iteration 1': in no pattern; to compare them, add a "
                              "[log.text] pattern with a (?P<text>…) group"]
