"""The seed's network and a flat-parameter view of it.

Both solvers (ours and the package's) work on one flat parameter vector, so the
same tensor can be handed to every contender and updates compare element-wise.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

INPUT_DIM = 3072  # 32 * 32 * 3, the seed's flattened CIFAR-10 image
HIDDEN = 512
N_HIDDEN_BLOCKS = 4
INIT_GAIN = math.sqrt(2.0)  # stable_solvers.LossFunction.initialize_parameters' default gain


def build_network(n_classes: int, input_dim: int = INPUT_DIM, hidden: int = HIDDEN,
                  blocks: int = N_HIDDEN_BLOCKS) -> torch.nn.Sequential:
    """Linear(3072,512)+ELU, 4 x (Linear(512,512)+ELU), Linear(512,C): exactly the seed's MLP.

    ELU rather than ReLU keeps the loss twice differentiable, which the Hessian needs.
    """
    layers: list[torch.nn.Module] = [torch.nn.Linear(input_dim, hidden), torch.nn.ELU()]
    for _ in range(blocks):
        layers += [torch.nn.Linear(hidden, hidden), torch.nn.ELU()]
    layers.append(torch.nn.Linear(hidden, n_classes))
    return torch.nn.Sequential(*layers)


def param_shapes(net: torch.nn.Module) -> list[tuple[str, torch.Size]]:
    """Names and shapes in `named_parameters` order: the layout of the flat vector."""
    return [(name, p.shape) for name, p in net.named_parameters()]


def n_params(net: torch.nn.Module) -> int:
    """Length of the flat parameter vector."""
    return sum(shape.numel() for _, shape in param_shapes(net))


def unflatten(flat: torch.Tensor, shapes: list[tuple[str, torch.Size]]) -> dict[str, torch.Tensor]:
    """Views of `flat` (P,) shaped like the network's parameters, for functional_call."""
    sizes = [shape.numel() for _, shape in shapes]
    pieces = flat.split(sizes)
    return {name: piece.view(shape) for (name, shape), piece in zip(shapes, pieces)}


def init_params(net: torch.nn.Module, seed: int, device: torch.device | str = "cpu",
                dtype: torch.dtype = torch.float32, gain: float = INIT_GAIN) -> torch.Tensor:
    """Seeded initial parameters (P,), identical for every contender.

    Same recipe and RNG order as `stable_solvers.LossFunction.initialize_parameters`
    (Xavier-normal weights with gain sqrt(2), zero biases, drawn into views of one
    flat tensor), so the seed's `torch.manual_seed(seed); initialize_parameters()`
    gives these exact values. Drawn on the CPU so the values do not depend on device.
    """
    shapes = param_shapes(net)
    torch.manual_seed(seed)
    flat = torch.empty(sum(s.numel() for _, s in shapes), dtype=dtype)  # (P,)
    for name, view in unflatten(flat, shapes).items():
        if name.endswith("weight"):
            torch.nn.init.xavier_normal_(view, gain=gain)
        else:
            torch.nn.init.zeros_(view)
    return flat.to(device)


def make_loss(net: torch.nn.Module, images: torch.Tensor,
              labels: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Full-batch mean cross-entropy as a function of the flat parameters (P,) -> ().

    Moves `net` to the meta device (as stable_solvers.LossFunction does): only its
    structure is used, the values always come from the flat vector.
    """
    shapes = param_shapes(net)
    skeleton = net.to("meta")

    def loss(flat: torch.Tensor) -> torch.Tensor:
        logits = torch.func.functional_call(skeleton, unflatten(flat, shapes), (images,))  # (N, C)
        return torch.nn.functional.cross_entropy(logits, labels)

    return loss
