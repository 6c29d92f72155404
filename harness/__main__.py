"""`python -m harness` is the `evalharness` command."""

from harness.cli import main

if __name__ == "__main__":
    main()
