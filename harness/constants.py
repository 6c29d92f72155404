"""Fixed names for everything the harness writes, in one place.

Like the SWE-bench harness, every run lives in its own folder with fixed
file names, so that tools (and a resumed `compare`) can find results without
guessing, and an existing result file means "this run is done".
"""

WORK_DIR = ".evalharness"
CLONES_DIR = "clones"
RUNS_DIR = "runs"
CACHE_DIR = "cache"  # stored results across compares, by run key (harness/cache.py)
INPUTS_DIR = "inputs"
TASK_COPY_DIR = "task"  # the task file's folder, copied for the runs when its command names {task_dir}

META_FILE = "meta.json"
RESULT_FILE = "result.json"
STDOUT_FILE = "stdout.txt"
STDERR_FILE = "stderr.txt"
STAMPS_FILE = "stamps.json"   # the harness's arrival time of every log line
STORE_DIR = "artifacts"       # the harness's own copies of what a run wrote (only these are read)
# Everything a run may write lives in its sandbox (executors/sandbox.new_sandbox: /tmp/evalharness-<pid>/<random>/):
# its tree src/, output/ ({output_dir}), home/ and tmp/; the harness copies what it needs out and deletes it.
OUTPUT_DIR = "output"  # (what {output_dir} names when a command is checked before any sandbox exists)
TREES_DIR = ".trees"                  # per-compare pristine trees, copied into every run
LOCK_FILE = ".lock"
VARIANTS_DIR = "variants"
COMPARE_JSON = "compare.json"
FACTS_FILE = "judge.json"  # what the judge reads besides the results (results.CompareFacts)
HEATMAP_DIR = "heatmaps"

PATCH_SUFFIX = ".patch"
REPORTS_DIR = "reports"

# Deterministic identity for the commits of the built-in repository, so the
# same source + patch always gives the same SHA (and runs can resume).
COMMIT_ENV = {
    "GIT_AUTHOR_NAME": "evalharness",
    "GIT_AUTHOR_EMAIL": "evalharness@localhost",
    "GIT_AUTHOR_DATE": "2025-07-08T00:00:00+0000",
    "GIT_COMMITTER_NAME": "evalharness",
    "GIT_COMMITTER_EMAIL": "evalharness@localhost",
    "GIT_COMMITTER_DATE": "2025-07-08T00:00:00+0000",
}

STATUS_OK = "ok"
STATUS_CRASHED = "crashed"
STATUS_TIMEOUT = "timeout"
STATUS_MEMORY = "memory"   # killed by the --max-rss cap
STATUS_KILLED = "killed"   # killed by a signal the harness did not send (the OOM killer, ...)
STATUS_FLAKY = "flaky"     # a failed run whose rerun ended differently
#: Worst first: the status a candidate gets when its runs disagree.
STATUS_RANK = (STATUS_FLAKY, STATUS_MEMORY, STATUS_KILLED, STATUS_TIMEOUT, STATUS_CRASHED, STATUS_OK)

#: Measures the harness takes of every run, whatever the task (see results.HARNESS_MEASURES).
HARNESS_PHASES = ("wall",)
MEMORY_PHASE = "peak_rss_mb"

SELF_SUFFIX = ".self"
STDERR_TAIL_LINES = 20
DEFAULT_TIMEOUT_S = 3600.0
# The most timing rounds: the sequential rule stops as soon as every candidate's
# speed question is settled (from 5 rounds on), so this is a cap, rarely reached.
DEFAULT_REPEAT = 20
DEFAULT_THRESHOLD = 0.05
#: Overall false-claim rate of the speed verdicts, over all sequential looks.
ALPHA = 0.05
UNSTABLE_SPREAD = 0.10
SCHEDULE_SEED = 20250708
#: Held-out parameter variants run in round 1 (baseline and each candidate once per variant).
DEFAULT_VARIANTS = 2
