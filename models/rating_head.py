"""The rating models' last step in numpy: (user state, item state) -> predicted rating.

Every rating model splits into a user side, an item side and a head (``models.ranking.RatingModel``).
The server computes both sides once per known user and per catalog item when it loads a version (with
the ranking SavedModel's signatures); what is left per request is the head over (user, candidate)
pairs. Through TensorFlow from Python that head costs 1-2.5 ms per call, almost all of it per-op
overhead; the same math in numpy costs about 0.2 ms for 100 candidates. The exporter writes the head's
weights (``save``), and the server reproduces the exported probe ratings with it before serving.

``bind_items`` precomputes what depends on the items alone (biases, the DCN cross kernel applied to the
item half) and returns a function of user states that does the same for the users and returns a
function of (B,) user rows and (B, N) item rows -> (B, N) ratings. The catalog side is bound once per
version; the user side once for the known users and again for each batch of users whose history
changed since training (``app.recommender``).

This module imports numpy only: the serving path must not need TensorFlow for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PairScores = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (B,) user rows, (B, N) item rows -> (B, N)
UserBinding = Callable[[np.ndarray], PairScores]  # (U, S) user states -> ratings of those users' rows
Arrays = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class DotHead:
    """Matrix factorization: mean + b_u + b_i + p_u . q_i; states are [b_u, p_u] and [b_i, q_i]."""

    mean: float

    def arrays(self) -> dict[str, np.ndarray]:
        return {"mean": np.float32(self.mean)}

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> DotHead:
        return cls(float(arrays["mean"]))

    def bind_items(self, items: np.ndarray) -> UserBinding:
        item_bias, item_factors = items[:, 0], np.ascontiguousarray(items[:, 1:])

        def for_users(users: np.ndarray) -> PairScores:
            user_bias, factors = users[:, 0] + np.float32(self.mean), users[:, 1:]

            def scores(user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
                dots = np.matmul(item_factors[item_rows], factors[user_rows][:, :, np.newaxis])[..., 0]
                return dots + user_bias[user_rows][:, np.newaxis] + item_bias[item_rows]

            return scores

        return for_users


@dataclass(frozen=True)
class DeepHead:
    """mean + b_u + b_i + MLP(cross([u, i])); states are [b_u, u] and [b_i, i]. ``cross`` is the DCN
    layer x * (x W + c) + x (Wang et al. 2021, full rank), ``layers`` are dense (kernel, bias) pairs
    with ReLU between them and a linear last layer."""

    mean: float
    user_size: int
    cross: tuple[np.ndarray, np.ndarray] | None
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]

    def arrays(self) -> dict[str, np.ndarray]:
        arrays = {"mean": np.float32(self.mean), "user_size": np.int64(self.user_size)}
        if self.cross is not None:
            arrays["cross_kernel"], arrays["cross_bias"] = self.cross
        for position, (kernel, bias) in enumerate(self.layers):
            arrays[f"dense{position}_kernel"], arrays[f"dense{position}_bias"] = kernel, bias
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> DeepHead:
        cross = (arrays["cross_kernel"], arrays["cross_bias"]) if "cross_kernel" in arrays else None
        count = sum(1 for name in arrays if name.startswith("dense") and name.endswith("_kernel"))
        layers = tuple((arrays[f"dense{n}_kernel"], arrays[f"dense{n}_bias"]) for n in range(count))
        return cls(float(arrays["mean"]), int(arrays["user_size"]), cross, layers)

    def bind_items(self, items: np.ndarray) -> UserBinding:
        item_bias, item_vectors = items[:, 0], np.ascontiguousarray(items[:, 1:])
        split, width = self.user_size, self.user_size + item_vectors.shape[1]
        if self.cross is not None:
            # x W = u W_top + i W_bottom: each half is multiplied once per user / item here, so a pair
            # only adds two rows. The "+ 1" folds the cross layer's residual in: x * (x W + c) + x.
            kernel, bias = self.cross
            item_cross = item_vectors @ kernel[split:] + bias

        def for_users(users: np.ndarray) -> PairScores:
            user_bias, user_vectors = users[:, 0] + np.float32(self.mean), np.ascontiguousarray(users[:, 1:])
            if self.cross is not None:
                user_cross = user_vectors @ self.cross[0][:split] + 1

            def scores(user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
                batch, n = item_rows.shape
                pairs = np.empty((batch, n, width), dtype=np.float32)
                pairs[..., :split] = user_vectors[user_rows][:, np.newaxis]
                pairs[..., split:] = item_vectors[item_rows]
                if self.cross is not None:
                    pairs *= user_cross[user_rows][:, np.newaxis] + item_cross[item_rows]
                hidden = pairs.reshape(batch * n, width)
                for kernel, bias in self.layers[:-1]:
                    hidden = np.maximum(hidden @ kernel + bias, 0)
                kernel, bias = self.layers[-1]
                interaction = (hidden @ kernel + bias).reshape(batch, n)
                return interaction + user_bias[user_rows][:, np.newaxis] + item_bias[item_rows]

            return scores

        return for_users


@dataclass(frozen=True)
class AutoRecHead:
    """I-AutoRec: W[u] . h_i + b[u]; states are [b[u], W[u]] and the item code h_i."""

    def arrays(self) -> dict[str, np.ndarray]:
        return {}

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> AutoRecHead:
        return cls()

    def bind_items(self, items: np.ndarray) -> UserBinding:
        codes = np.ascontiguousarray(items)

        def for_users(users: np.ndarray) -> PairScores:
            bias, rows = users[:, 0], np.ascontiguousarray(users[:, 1:])

            def scores(user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
                dots = np.matmul(codes[item_rows], rows[user_rows][:, :, np.newaxis])[..., 0]
                return dots + bias[user_rows][:, np.newaxis]

            return scores

        return for_users


@dataclass(frozen=True)
class NeuMFHead:
    """NeuMF (``models.neumf``): mean + b_u + b_i + h_gmf . (p_u * q_i) + h_mlp . MLP([p'_u, q'_i]); states
    are [b_u, p_u, p'_u] and [b_i, q_i, q'_i]; ``layers`` are the tower's dense (kernel, bias) pairs, all
    ReLU, ``output`` is h = [h_gmf, h_mlp]. A branch of size 0 is absent."""

    mean: float
    gmf_dim: int
    mlp_dim: int
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    output: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        arrays = {"mean": np.float32(self.mean), "gmf_dim": np.int64(self.gmf_dim), "mlp_dim": np.int64(self.mlp_dim),
                  "output": self.output}
        for position, (kernel, bias) in enumerate(self.layers):
            arrays[f"dense{position}_kernel"], arrays[f"dense{position}_bias"] = kernel, bias
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> NeuMFHead:
        count = sum(1 for name in arrays if name.startswith("dense") and name.endswith("_kernel"))
        layers = tuple((arrays[f"dense{n}_kernel"], arrays[f"dense{n}_bias"]) for n in range(count))
        return cls(float(arrays["mean"]), int(arrays["gmf_dim"]), int(arrays["mlp_dim"]), layers, arrays["output"])

    def bind_items(self, items: np.ndarray) -> UserBinding:
        g, m = self.gmf_dim, self.mlp_dim
        item_bias, item_gmf = items[:, 0], np.ascontiguousarray(items[:, 1:1 + g])
        if self.layers:  # the first layer's product with each half, once per user / item
            item_first = items[:, 1 + g:1 + g + m] @ self.layers[0][0][m:]

        def for_users(users: np.ndarray) -> PairScores:
            user_bias = users[:, 0] + np.float32(self.mean)
            # h_gmf . (p * q) = (p * h_gmf) . q: the output weights fold into the user's side once.
            user_gmf = users[:, 1:1 + g] * self.output[:g]
            if self.layers:
                kernel, bias = self.layers[0]
                user_first = users[:, 1 + g:1 + g + m] @ kernel[:m] + bias

            def scores(user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
                batch, n = item_rows.shape
                total = user_bias[user_rows][:, np.newaxis] + item_bias[item_rows]
                if g:
                    total += np.matmul(item_gmf[item_rows], user_gmf[user_rows][:, :, np.newaxis])[..., 0]
                if self.layers:
                    hidden = np.maximum(user_first[user_rows][:, np.newaxis] + item_first[item_rows], 0)
                    hidden = hidden.reshape(batch * n, -1)
                    for kernel, bias in self.layers[1:]:
                        hidden = np.maximum(hidden @ kernel + bias, 0)
                    total += (hidden @ self.output[g:]).reshape(batch, n)
                return total

            return scores

        return for_users


@dataclass(frozen=True)
class BlendHead:
    """intercept + sum_k w_k clip(member_k): states are the members' states, concatenated in order."""

    members: tuple[Head, ...]
    user_sizes: tuple[int, ...]
    item_sizes: tuple[int, ...]
    weights: np.ndarray  # (1 + K,): intercept, then one weight per member
    rating_range: tuple[float, float]

    def arrays(self) -> dict[str, np.ndarray]:
        arrays = {"user_sizes": np.array(self.user_sizes), "item_sizes": np.array(self.item_sizes),
                  "weights": self.weights, "rating_range": np.array(self.rating_range, dtype=np.float32)}
        for position, member in enumerate(self.members):
            arrays.update({f"member{position}/{name}": value for name, value in to_arrays(member).items()})
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> BlendHead:
        user_sizes = tuple(int(size) for size in arrays["user_sizes"])
        members = tuple(from_arrays(_under(arrays, f"member{position}/")) for position in range(len(user_sizes)))
        low, high = (float(value) for value in arrays["rating_range"])
        return cls(members, user_sizes, tuple(int(size) for size in arrays["item_sizes"]), arrays["weights"],
                   (low, high))

    def bind_items(self, items: np.ndarray) -> UserBinding:
        item_parts = np.split(items, np.cumsum(self.item_sizes)[:-1], axis=1)
        members = [member.bind_items(part) for member, part in zip(self.members, item_parts, strict=True)]
        weights = self.weights.astype(np.float32)
        low, high = np.float32(self.rating_range[0]), np.float32(self.rating_range[1])

        def for_users(users: np.ndarray) -> PairScores:
            user_parts = np.split(users, np.cumsum(self.user_sizes)[:-1], axis=1)
            bound = [member(part) for member, part in zip(members, user_parts, strict=True)]

            def scores(user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
                total = np.full(item_rows.shape, weights[0], dtype=np.float32)
                for weight, member in zip(weights[1:], bound, strict=True):
                    total += weight * np.clip(member(user_rows, item_rows), low, high)
                return total

            return scores

        return for_users


Head = DotHead | DeepHead | NeuMFHead | AutoRecHead | BlendHead
_KINDS: dict[str, type] = {"dot": DotHead, "deep": DeepHead, "neumf": NeuMFHead, "autorec": AutoRecHead,
                            "blend": BlendHead}


def _under(arrays: Arrays, prefix: str) -> dict[str, np.ndarray]:
    return {name[len(prefix):]: value for name, value in arrays.items() if name.startswith(prefix)}


def to_arrays(head: Head) -> dict[str, np.ndarray]:
    kind = next(name for name, cls in _KINDS.items() if isinstance(head, cls))
    return {"kind": np.array(kind), **head.arrays()}


def from_arrays(arrays: Arrays) -> Head:
    kind = str(arrays["kind"])
    if kind not in _KINDS:
        raise ValueError(f"unknown rating head kind {kind!r}")
    return _KINDS[kind].from_arrays(arrays)


def save(path: Path, head: Head) -> None:
    np.savez(path, **to_arrays(head))


def load(path: Path) -> Head:
    """Raises OSError / ValueError / KeyError for a missing, corrupt or foreign file."""
    with np.load(path, allow_pickle=False) as file:
        return from_arrays({name: file[name] for name in file.files})


def bind_clipped(head: Head, items: np.ndarray, rating_range: tuple[float, float]) -> UserBinding:
    """What the ranking signature serves, bound to the catalog's item states: a function of user states
    whose ratings are the head's, clipped to the rating range."""
    for_users = head.bind_items(items.astype(np.float32))
    low, high = np.float32(rating_range[0]), np.float32(rating_range[1])

    def clipped(users: np.ndarray) -> PairScores:
        scores = for_users(users.astype(np.float32))
        return lambda user_rows, item_rows: np.clip(scores(user_rows, item_rows), low, high)

    return clipped
