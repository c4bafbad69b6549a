"""A user autoencoder's scores in numpy: the user's items -> a code -> log-probabilities over the catalog.

This is the served form of Mult-VAE and Mult-DAE (``models.mult_vae``, Liang et al. 2018): the
input is the user's interaction vector x_u, L2-normalised; every layer is dense with a tanh, except
where ``activations`` says "linear" (Mult-VAE's mean code and the output logits):

    h_1 = tanh(x_u W_1 + b_1),  ...,  logits = h_L W_L + b_L,  scores = log softmax(logits)

At serving time Mult-VAE uses the mean of its code (no sampling) and neither model drops inputs out,
so the trained model reduces to these layers. x_u is sparse: its product with W_1 is the sum of the
rows of the user's items, divided by the square root of their count. The trainer's evaluation and
the server both call ``scores``; the exporter writes the layers as numpy arrays (``save``).

This module imports numpy only: the serving path must not need TensorFlow for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.selection import SeenItems

ACTIVATIONS = ("tanh", "linear")


@dataclass(frozen=True)
class UserAutoencoder:
    kind: str  # "vae" or "dae": what was trained (the layers are applied the same way)
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]  # (kernel, bias); the first kernel is (n_items, width)
    activations: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.layers) != len(self.activations) or not self.layers:
            raise ValueError(f"{len(self.layers)} layers and {len(self.activations)} activations")
        if not set(self.activations) <= set(ACTIVATIONS):
            raise ValueError(f"activations must be among {ACTIVATIONS}, not {self.activations}")
        widths = [self.layers[0][0].shape[0]] + [kernel.shape[1] for kernel, _ in self.layers]
        if [kernel.shape[0] for kernel, _ in self.layers] != widths[:-1] or widths[-1] != widths[0]:
            raise ValueError(f"layer shapes {[kernel.shape for kernel, _ in self.layers]} do not chain from the "
                             f"catalog back to it")

    @property
    def n_items(self) -> int:
        return self.layers[0][0].shape[0]

    def scores(self, seen: SeenItems, user_rows: np.ndarray) -> np.ndarray:
        """(B,) user rows -> (B, n_items) float32 log-probabilities of each item given the user's items."""
        kernel, bias = self.layers[0]
        hidden = np.empty((len(user_rows), kernel.shape[1]), dtype=np.float32)
        for position, user in enumerate(user_rows):
            items = seen.of(int(user))
            hidden[position] = kernel[items].sum(axis=0) / np.float32(max(np.sqrt(len(items)), 1e-12))
        hidden += bias
        for position, activation in enumerate(self.activations):
            if position:
                kernel, bias = self.layers[position]
                hidden = hidden @ kernel + bias
            if activation == "tanh":
                hidden = np.tanh(hidden)
        logits = hidden - hidden.max(axis=1, keepdims=True)
        return (logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))).astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        arrays = {"kind": np.array(self.kind), "activations": np.array(self.activations)}
        for position, (kernel, bias) in enumerate(self.layers):
            arrays[f"kernel{position}"], arrays[f"bias{position}"] = kernel, bias
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> UserAutoencoder:
        activations = tuple(str(name) for name in arrays["activations"])
        layers = tuple((arrays[f"kernel{n}"].astype(np.float32), arrays[f"bias{n}"].astype(np.float32))
                       for n in range(len(activations)))
        return cls(str(arrays["kind"]), layers, activations)


def save(path: Path, model: UserAutoencoder) -> None:
    np.savez(path, **model.arrays())


def load(path: Path) -> UserAutoencoder:
    """Raises OSError / ValueError / KeyError for a missing, corrupt or foreign file."""
    with np.load(path, allow_pickle=False) as file:
        return UserAutoencoder.from_arrays({name: file[name] for name in file.files})
