"""Training loop, seeding and the per-epoch log lines.

The training path is what candidates must NOT change: the batch order comes
from torch.randperm on the global torch RNG, so any extra draw from that RNG
(e.g. random hash coefficients) shifts every later batch and changes the
logged losses -- which is exactly how a harness can detect it.
"""
from __future__ import annotations

import logging
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import data, model as model_mod, rendering

LOGGER_NAME = "polytope_nn"
LOG_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
OPTIMIZERS = ("adam", "sgd", "sgd_momentum", "rmsprop")


def get_logger() -> logging.Logger:
    """The `polytope_nn` logger writing to stderr (configured once)."""
    logger = logging.getLogger(LOGGER_NAME)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch so a run is reproducible."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "sgd_momentum":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}")


def train_epoch(net: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                batch_size: int) -> float:
    """One pass over the shuffled training set; mean loss weighted by batch size."""
    net.train()
    loss_fn = nn.MSELoss()
    n = x.shape[0]
    order = torch.randperm(n).to(x.device)  # global torch RNG, on the CPU
    total = 0.0
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        opt.zero_grad()
        loss = loss_fn(net(x[idx]), y[idx])  # (b, 1) vs (b, 1)
        loss.backward()
        opt.step()
        total += loss.item() * idx.shape[0]
    return total / n


def evaluate(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    net.eval()
    with torch.no_grad():
        loss = nn.functional.mse_loss(net(x), y).item()
    net.train()
    return loss


@dataclass
class Config:
    input: Path
    widths: list[int]
    shape_text: str
    epochs: int
    seed: int
    points: int
    save_interval: int
    output_dir: Path
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    batch_size: int = 1024
    device: str = "cpu"


def run(cfg: Config, image: np.ndarray, split: data.Split) -> None:
    """Train for cfg.epochs, visualising every cfg.save_interval epochs and at the end.

    The caller seeds the RNGs and draws `split` first (see cli.main), so the
    model initialisation below is the first use of the torch RNG.
    """
    log = get_logger()
    device = torch.device(cfg.device)
    height, width = image.shape
    coords = torch.from_numpy(data.pixel_coords(height, width)).to(device)       # (H*W, 2)
    target = torch.from_numpy(image.reshape(-1, 1)).to(device)                   # (H*W, 1)
    train_idx = torch.from_numpy(split.train_idx).to(device)
    val_idx = torch.from_numpy(split.val_idx).to(device)
    x_train, y_train = coords[train_idx], target[train_idx]
    x_val, y_val = coords[val_idx], target[val_idx]

    net = model_mod.PolytopeNet(cfg.widths).to(device)
    opt = make_optimizer(cfg.optimizer, net.parameters(), cfg.learning_rate)

    for epoch in range(1, cfg.epochs + 1):
        train_loss = train_epoch(net, opt, x_train, y_train, cfg.batch_size)
        val_loss = evaluate(net, x_val, y_val)
        log.info("Epoch %d/%d - Train Loss: %.6f, Val Loss: %.6f",
                 epoch, cfg.epochs, train_loss, val_loss)
        if epoch % cfg.save_interval == 0 or epoch == cfg.epochs:
            lines = [
                f"epoch {epoch}/{cfg.epochs}",
                f"train loss {train_loss:.6f}",
                f"val loss {val_loss:.6f}",
                f"shape {cfg.shape_text}",
                f"seed {cfg.seed}",
                f"points {cfg.points}",
                f"lr {cfg.learning_rate:g}",
                f"optimizer {cfg.optimizer}",
            ]
            out = rendering.output_path(cfg.output_dir, cfg.input, epoch)
            seconds = rendering.visualise(net, coords, image, split.train_idx, split.val_idx,
                                          lines, out)
            log.info("Visualization @ epoch %d: %.2fs", epoch, seconds)
