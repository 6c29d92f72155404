"""The one input file every branch reads, prepared once per compare.

Copying (or resizing, for the `size` parameter) the input into the run folder
means every branch trains on byte-identical data, and a candidate cannot win
by shipping a different image.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from harness.errors import UsageProblem


class InputError(UsageProblem):
    """The input image is missing or unreadable; the message says where it looked."""


def locate_input(value: str, baseline_tree: Path) -> Path:
    """A relative input is looked up in the baseline checkout first, then the current folder."""
    path = Path(value).expanduser()
    for candidate in ([path] if path.is_absolute() else [baseline_tree / path, Path.cwd() / path]):
        if candidate.is_file():
            return candidate
    raise InputError(f"input {value!r} not found (looked in the baseline checkout and the current folder)")


def prepare_input(source: Path, size: int | None, dest_dir: Path) -> Path:
    """Copy the input, or write a size x size grayscale resize of it; reuse an existing copy."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / (f"{source.stem}_{size}.png" if size else source.name)
    if dest.exists():
        return dest
    if size is None:
        shutil.copyfile(source, dest)
        return dest
    try:
        with Image.open(source) as img:
            img.convert("L").resize((size, size), Image.Resampling.LANCZOS).save(dest)
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"input {source} is not a readable image: {exc}") from exc
    return dest
