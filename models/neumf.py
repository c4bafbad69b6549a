"""Neural collaborative filtering (He et al. 2017, "Neural Collaborative Filtering"), for ratings.

Two branches over separate id embeddings, fused by one linear layer (the paper's eq. 12):

    GMF:   phi_gmf = p_u * q_i                              (element-wise product, ``gmf_dim``)
    MLP:   phi_mlp = MLP([p'_u, q'_i])                       (ReLU layers of ``mlp_widths``)
    NeuMF: rating  = mean + b_u + b_i + h . [phi_gmf, phi_mlp]

The paper learns implicit feedback with a log loss; here the task is the one every rating model of
this project has (squared error on observed ratings), so NeuMF is a drop-in rating model: the same
``RatingModel`` contract, biases and numpy serving head (``models.rating_head.NeuMFHead``).
``branches`` keeps one branch only (GMF or MLP alone), which is how the paper pre-trains them before
fusing (``NeuMF.fused``: their weights copied, h = [alpha h_gmf, (1 - alpha) h_mlp]).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import tensorflow as tf

import models  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from models import rating_head
from models.config import config_dataclass
from models.features import Features, dense_stack
from models.ranking import RatingModel

BRANCHES = ("gmf", "mlp")


@config_dataclass
class NeuMFConfig:
    gmf_dim: int = 32  # predictive factors of the GMF branch
    mlp_dim: int = 32  # user and item embedding size of the MLP branch (its input is twice that)
    mlp_widths: tuple[int, ...] = (64, 32, 16)  # the paper's tower: each layer half the one before
    l2: float = 1e-5  # on every embedding and bias
    dropout: float = 0.0  # between the MLP layers
    pretrain: bool = False  # train GMF and MLP alone first and fuse them (the paper's initialisation)
    alpha: float = 0.5  # weight of the pre-trained GMF output layer in the fused one
    learning_rate: float = 0.001  # Adam; the fused model after pre-training uses plain SGD, as in the paper
    pretrained_learning_rate: float = 0.01
    batch_size: int = 256
    epochs: int = 40  # upper bound; early stopping on validation RMSE picks the epoch
    patience: int = 3


class NeuMF(RatingModel):
    def __init__(self, sizes: Mapping[str, int], mean_rating: float, config: NeuMFConfig,
                 branches: tuple[str, ...] = BRANCHES) -> None:
        super().__init__(sizes, mean_rating, bias_l2=config.l2)
        unknown = set(branches) - set(BRANCHES)
        if unknown or not branches:
            raise ValueError(f"NeuMF branches must be a non-empty subset of {BRANCHES}, not {branches}")
        self.config = config
        self.branches = tuple(branch for branch in BRANCHES if branch in branches)
        regularizer = tf.keras.regularizers.l2(config.l2) if config.l2 else None

        def embedding(rows: int, dim: int, name: str) -> tf.keras.layers.Embedding:
            return tf.keras.layers.Embedding(rows, dim, embeddings_regularizer=regularizer, name=name,
                                             embeddings_initializer=tf.keras.initializers.RandomNormal(0.0, 0.01))

        self.dims = {"gmf": config.gmf_dim if "gmf" in self.branches else 0,
                     "mlp": config.mlp_dim if "mlp" in self.branches else 0}
        self.user_embeddings = {branch: embedding(sizes["users"], self.dims[branch], f"user_{branch}")
                                for branch in self.branches}
        self.item_embeddings = {branch: embedding(sizes["items"], self.dims[branch], f"item_{branch}")
                                for branch in self.branches}
        if "mlp" in self.branches:
            # All ReLU: the tower's last layer is a hidden layer here, the fused output follows it.
            self.mlp = dense_stack(config.mlp_widths, dropout=config.dropout, final_activation="relu", name="mlp")
        self.output_layer = tf.keras.layers.Dense(1, use_bias=False, name="prediction")

    @property
    def state_size(self) -> int:
        return 1 + self.dims["gmf"] + self.dims["mlp"]

    @property
    def item_state_size(self) -> int:
        return 1 + self.dims["gmf"] + self.dims["mlp"]

    def user_vector(self, features: Features, exclude_item: tf.Tensor | None = None) -> tf.Tensor:
        return tf.concat([self.user_embeddings[branch](features["user"]) for branch in self.branches], axis=-1)

    def item_vector(self, items: tf.Tensor) -> tf.Tensor:
        return tf.concat([self.item_embeddings[branch](items) for branch in self.branches], axis=-1)

    def interaction(self, users: tf.Tensor, items: tf.Tensor, training: bool) -> tf.Tensor:
        split = [self.dims["gmf"], self.dims["mlp"]]
        user_gmf, user_mlp = tf.split(users, split, axis=-1)
        item_gmf, item_mlp = tf.split(items, split, axis=-1)
        phi = []
        if "gmf" in self.branches:
            phi.append(user_gmf * item_gmf)  # (B, [N,] gmf_dim)
        if "mlp" in self.branches:
            phi.append(self.mlp(tf.concat([user_mlp, item_mlp], axis=-1), training=training))  # (B, [N,] last)
        return self.output_layer(tf.concat(phi, axis=-1))[..., 0]

    @classmethod
    def fused(cls, gmf: NeuMF, mlp: NeuMF, sizes: Mapping[str, int], mean_rating: float,
              config: NeuMFConfig) -> NeuMF:
        """NeuMF initialised from a trained GMF-only and a trained MLP-only model (the paper's section 3.4.1):
        embeddings, biases (their mean) and tower copied, output layer [alpha h_gmf, (1 - alpha) h_mlp]."""
        model = cls(sizes, mean_rating, config)
        model.build_all()
        for branch, source in (("gmf", gmf), ("mlp", mlp)):
            model.user_embeddings[branch].set_weights(source.user_embeddings[branch].get_weights())
            model.item_embeddings[branch].set_weights(source.item_embeddings[branch].get_weights())
        model.mlp.set_weights(mlp.mlp.get_weights())
        for bias in ("user_bias", "item_bias"):
            getattr(model, bias).set_weights([(getattr(gmf, bias).get_weights()[0]
                                               + getattr(mlp, bias).get_weights()[0]) / 2])
        h_gmf, h_mlp = gmf.output_layer.kernel.numpy(), mlp.output_layer.kernel.numpy()
        model.output_layer.set_weights([np.concatenate([config.alpha * h_gmf, (1 - config.alpha) * h_mlp])])
        return model

    def build_all(self) -> None:
        """Create every weight (Keras builds layers on their first call)."""
        self({"user": tf.zeros([1], tf.int32), "item": tf.zeros([1], tf.int32)})

    def head(self) -> rating_head.NeuMFHead:
        mlp = [layer for layer in self.mlp.layers if isinstance(layer, tf.keras.layers.Dense)] \
            if "mlp" in self.branches else []
        return rating_head.NeuMFHead(float(self.mean_rating.numpy()), self.dims["gmf"], self.dims["mlp"],
                                     tuple((layer.kernel.numpy(), layer.bias.numpy()) for layer in mlp),
                                     self.output_layer.kernel.numpy()[:, 0])
