"""Stage 4: judging — are the outputs equivalent, is it really faster, and why not.

- `equivalence`: metrics and artifacts against the baseline, with the diagnosis;
- `speed` + `stats`: paired timing statistics and the per-phase speed verdicts;
- `flags`: diff lines that touch seeds, RNG, threads, precision or the clock;
- `verdicts`: the one-line verdict words, status ranking and exit status;
- `analyse`: all of the above for every candidate → a CompareDocument.
"""
