"""Entry point: train a leaky-ReLU MLP on an image and draw its polytopes.

Kept thin on purpose; all logic lives in the `polytope` package next to this
script (the script's own directory is on sys.path when run as a script).
"""
from polytope.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
