"""Train a leaky-ReLU MLP on an image and visualise the polytopes (linear
regions) it carves input space into.

Modules: model (network + --shape parsing), data (image -> samples),
hashing (activation-pattern hashes, the part candidates optimise),
rendering (PNG panels), training (loop + logging), cli (argument handling).
"""
