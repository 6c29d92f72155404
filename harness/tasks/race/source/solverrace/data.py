"""Training data for the race: packaged digits made CIFAR-shaped, or a local CIFAR-10.

The seed trains on CIFAR-10 flattened to 3072 features, which cannot be downloaded
here. scikit-learn's digits ship inside the package (1797 8x8 grey images, 10
classes); upscaling them to 32x32x3 keeps the seed's network input exactly 3072 wide.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

CIFAR_DIRNAME = "cifar-10-batches-py"
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
SIDE = 32  # CIFAR-10 image side; 32 * 32 * 3 = 3072 input features


class DataError(ValueError):
    """The data source named on the command line cannot be used (bad input, exit 2)."""


@dataclass(frozen=True)
class ImageSet:
    """All images of a source, flattened like the seed's `all_images`."""

    name: str
    images: torch.Tensor  # (N, 3072) float32 in [0, 1], HWC order like torchvision's CIFAR10.data
    labels: torch.Tensor  # (N,) int64 class ids


def load_digits_3072() -> ImageSet:
    """scikit-learn's digits, bilinearly upscaled to 32x32 and replicated to 3 channels."""
    from sklearn.datasets import load_digits  # optional extra `race`

    bunch = load_digits()
    grey = torch.from_numpy(bunch.images).float().unsqueeze(1) / 16.0  # (N, 1, 8, 8), values 0..16 -> [0, 1]
    big = torch.nn.functional.interpolate(grey, size=(SIDE, SIDE), mode="bilinear", align_corners=False)
    big = big.clamp(0.0, 1.0)  # (N, 1, 32, 32); bilinear stays in [0, 1], clamp guards rounding
    hwc = big.permute(0, 2, 3, 1).expand(-1, -1, -1, 3)  # (N, 32, 32, 3), like CIFAR's HWC layout
    images = hwc.reshape(len(hwc), -1).contiguous()  # (N, 3072)
    labels = torch.from_numpy(bunch.target).long()  # (N,)
    return ImageSet("digits-32x32x3", images, labels)


def _cifar_dir(path: Path) -> Path:
    """Accept the `cifar-10-batches-py` folder itself or the folder that holds it."""
    for candidate in (path, path / CIFAR_DIRNAME):
        if all((candidate / name).is_file() for name in CIFAR_TRAIN_BATCHES):
            return candidate
    raise DataError(f"no CIFAR-10 python batches ({', '.join(CIFAR_TRAIN_BATCHES)}) under {path}")


def load_cifar10_3072(path: Path) -> ImageSet:
    """The CIFAR-10 training set from a local python-pickle copy (no download)."""
    folder = _cifar_dir(path)
    chunks, labels = [], []
    for name in CIFAR_TRAIN_BATCHES:  # same order as torchvision's CIFAR10(train=True)
        with open(folder / name, "rb") as fh:
            batch = pickle.load(fh, encoding="bytes")
        chunks.append(np.asarray(batch[b"data"], dtype=np.uint8))  # (10000, 3072) in CHW order
        labels.extend(batch[b"labels"])
    chw = np.concatenate(chunks).reshape(-1, 3, SIDE, SIDE)
    hwc = np.ascontiguousarray(chw.transpose(0, 2, 3, 1))  # torchvision's `.data` layout
    images = torch.from_numpy(hwc).float().flatten(1) / 255  # (50000, 3072), as in the seed
    return ImageSet("cifar10", images, torch.tensor(labels, dtype=torch.long))


def load_source(data: str) -> ImageSet:
    """`digits` for the packaged set, anything else is a path to a local CIFAR-10 copy."""
    if data == "digits":
        return load_digits_3072()
    path = Path(data)
    if not path.is_dir():
        raise DataError(f"--data must be 'digits' or an existing CIFAR-10 folder, got {data!r}")
    return load_cifar10_3072(path)


def build_dataset(source: ImageSet, n_train: int, n_classes: int, seed: int) -> torch.utils.data.TensorDataset:
    """The seed's `build_dataset`: first `n_classes` labels, a seeded random subset of `n_train`.

    The permutation is drawn on the CPU generator (the seed drew it on CUDA), so the
    subset is the same whatever device the contender then runs on.
    """
    torch.manual_seed(seed)
    mask = source.labels < n_classes  # (N,) bool
    images, labels = source.images[mask], source.labels[mask]
    if n_train > len(labels):
        raise DataError(f"--n-train {n_train} exceeds the {len(labels)} {source.name} images of {n_classes} classes")
    idxs = torch.randperm(len(labels))[:n_train]  # (n_train,)
    return torch.utils.data.TensorDataset(images[idxs], labels[idxs])
