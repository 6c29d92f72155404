"""evalharness: check optimised branches against their baseline."""

__version__ = "0.1.0"
