"""The network whose linear regions we draw, and the --shape mini-language.

`parse_shape` parses with a regex and never runs the text as Python: the
shape comes from the command line and must never execute code.  Only the forms `[a, b, ...]` and
`[a, b, ...]*n` are accepted.
"""
from __future__ import annotations

import re

import torch
from torch import nn

MAX_LAYERS = 100
MAX_WIDTH = 4096
LEAKY_SLOPE = 0.01
BIAS_INIT = 0.1

_SHAPE_RE = re.compile(
    r"^\s*\[\s*(?P<body>\d+(?:\s*,\s*\d+)*)\s*,?\s*\]\s*(?:\*\s*(?P<repeat>\d+))?\s*$"
)


def parse_shape(text: str) -> list[int]:
    """Turn '[100]*20' or '[64, 32]' into a list of hidden-layer widths.

    Raises ValueError with a message meant to be shown to the user verbatim.
    """
    match = _SHAPE_RE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a list of layer widths like [100]*20")
    widths = [int(tok) for tok in match.group("body").split(",")]
    repeat = int(match.group("repeat")) if match.group("repeat") is not None else 1
    if repeat < 1:
        raise ValueError(f"{text!r}: repeat count must be at least 1, got {repeat}")
    for width in widths:
        if not 1 <= width <= MAX_WIDTH:
            raise ValueError(f"{text!r}: layer width {width} is out of range 1..{MAX_WIDTH}")
    if len(widths) * repeat > MAX_LAYERS:
        raise ValueError(
            f"{text!r}: {len(widths) * repeat} hidden layers is more than {MAX_LAYERS}"
        )
    return widths * repeat


class PolytopeNet(nn.Module):
    """MLP 2 -> widths... -> 1 with LeakyReLU after every hidden Linear.

    Each LeakyReLU splits input space by the sign of its input, so the set of
    signs over all units (the activation pattern) names the polytope a point is
    in.  The layers live in one nn.Sequential so training is a plain forward.
    """

    def __init__(self, widths: list[int]):
        super().__init__()
        if not widths:
            raise ValueError("need at least one hidden layer")
        self.widths = list(widths)
        modules: list[nn.Module] = []
        fan_in = 2  # input is (x/W, y/H)
        for width in self.widths:
            modules.append(nn.Linear(fan_in, width))   # (N, fan_in) -> (N, width)
            modules.append(nn.LeakyReLU(LEAKY_SLOPE))  # (N, width) -> (N, width)
            fan_in = width
        modules.append(nn.Linear(fan_in, 1))           # (N, fan_in) -> (N, 1)
        self.layers = nn.Sequential(*modules)
        self._init_weights()

    def _init_weights(self) -> None:
        """Kaiming init matched to the leaky slope; small positive bias so that
        most units start active (fewer dead regions at epoch 0)."""
        for module in self.layers:
            if isinstance(module, nn.Linear):
                nn.init.kaiming_normal_(
                    module.weight, a=LEAKY_SLOPE, mode="fan_in", nonlinearity="leaky_relu"
                )
                nn.init.constant_(module.bias, BIAS_INIT)

    def forward(self, xy: torch.Tensor) -> torch.Tensor:
        """(N, 2) float32 coordinates -> (N, 1) predicted intensity."""
        return self.layers(xy)
