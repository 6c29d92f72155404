"""solverrace: the seed's solver race (exponential Euler vs adaptive gradient descent).

Two implementations of each solver race to a full-batch training-loss target:
`ours` (written from the method, in :mod:`solverrace.ours`) and `package` (the
published `stable-solvers`, run as it is, in :mod:`solverrace.package`).
"""
