"""Mult-VAE and Mult-DAE (Liang et al. 2018, "Variational Autoencoders for Collaborative Filtering").

Each user's interaction vector x_u (1 for every item the user interacted with) is L2-normalised,
dropped out (``dropout``, training only), encoded by tanh layers into a code and decoded by tanh
layers into logits over the whole catalog, pi(z) = softmax(logits). The likelihood is multinomial:

    log p(x_u | z) = sum_i x_ui log pi_i(z)

Mult-DAE (``variational=False``) encodes x_u into one code (tanh) and minimises -log p(x_u | z).
Mult-VAE encodes a Gaussian q(z | x_u) = N(mu, diag(sigma^2)), samples z with the
reparameterisation trick and minimises the negative ELBO with its KL term weighted by beta:

    -log p(x_u | z) + beta KL(q(z | x_u) || N(0, I))

beta grows linearly from 0 by ``1 / anneal_steps`` per training step up to ``anneal_cap`` (KL
annealing); the trainer keeps the epoch with the best validation recall, which fixes the beta the
served model was trained to (the paper's heuristic, its section 2.2.2). L2 penalties on the kernels
(``l2``) as in the authors' code. At serving time the code is the mean (no sampling, no dropout);
``to_numpy`` gives those layers as ``models.user_autoencoder.UserAutoencoder``.

Inputs: (B, n_items) float32 interaction vectors.
"""

from __future__ import annotations

from typing import Literal

import tensorflow as tf

import models  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from models.config import config_dataclass
from models.user_autoencoder import UserAutoencoder

MAX_CELLS = 50_000_000  # users x items: each epoch multiplies every user's full vector through the layers


@config_dataclass
class AutoencoderConfig:
    # Which user autoencoder: "auto" trains Mult-VAE and Mult-DAE and keeps the better on validation.
    kind: Literal["auto", "vae", "dae"] = "auto"
    hidden_widths: tuple[int, ...] = (600,)  # the paper's [I -> 600 -> 200 -> 600 -> I]
    latent_dim: int = 200
    dropout: float = 0.5  # on the normalised input
    l2: float = 0.01  # on every kernel (the paper's lambda)
    anneal_cap: float = 1.0  # Mult-VAE's largest beta; the kept epoch chooses the beta below it
    anneal_epochs: int = 100  # epochs for beta to grow from 0 to 1
    learning_rate: float = 0.001
    batch_size: int = 500  # users per step
    epochs: int = 200  # upper bound; early stopping on validation recall@10 picks the epoch
    patience: int = 20


class MultVAE(tf.keras.Model):
    def __init__(self, n_items: int, config: AutoencoderConfig, variational: bool, anneal_steps: int) -> None:
        super().__init__()
        self.config, self.variational, self.n_items = config, variational, n_items
        self.anneal_steps = max(anneal_steps, 1)
        regularizer = tf.keras.regularizers.l2(config.l2) if config.l2 else None

        def dense(width: int, activation: str | None) -> tf.keras.layers.Dense:
            return tf.keras.layers.Dense(width, activation=activation, kernel_regularizer=regularizer,
                                         kernel_initializer="glorot_uniform", bias_initializer="truncated_normal")

        self.dropout = tf.keras.layers.Dropout(config.dropout)
        self.encoder = [dense(width, "tanh") for width in config.hidden_widths]
        # Mult-VAE: mean and log-variance of q(z | x); Mult-DAE: the code itself, through a tanh.
        self.code = dense(2 * config.latent_dim, None) if variational else dense(config.latent_dim, "tanh")
        self.decoder = [dense(width, "tanh") for width in reversed(config.hidden_widths)]
        self.logits = dense(n_items, None)
        self.step = self.add_weight(name="anneal_step", shape=(), initializer="zeros", trainable=False)

    @property
    def beta(self) -> tf.Tensor:
        """KL weight at the current step (0 for Mult-DAE)."""
        if not self.variational:
            return tf.constant(0.0)
        return tf.minimum(self.config.anneal_cap, self.step / self.anneal_steps)

    def encode(self, x: tf.Tensor, training: bool = False) -> tuple[tf.Tensor, tf.Tensor | None]:
        """(B, n_items) -> the code's mean (B, latent) and, for Mult-VAE, its log-variance."""
        hidden = self.dropout(tf.math.l2_normalize(x, axis=1), training=training)
        for layer in self.encoder:
            hidden = layer(hidden)
        code = self.code(hidden)
        if not self.variational:
            return code, None
        mean, log_variance = tf.split(code, 2, axis=1)
        return mean, log_variance

    def decode(self, z: tf.Tensor) -> tf.Tensor:
        """(B, latent) codes -> (B, n_items) logits."""
        for layer in self.decoder:
            z = layer(z)
        return self.logits(z)

    def call(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """(B, n_items) interaction vectors -> (B, n_items) logits from the code's mean."""
        return self.decode(self.encode(x, training)[0])

    def negative_elbo(self, x: tf.Tensor) -> tf.Tensor:
        mean, log_variance = self.encode(x, training=True)
        z = mean
        if self.variational:
            z = mean + tf.exp(0.5 * log_variance) * tf.random.normal(tf.shape(mean))
        log_probabilities = tf.nn.log_softmax(self.decode(z))
        loss = -tf.reduce_mean(tf.reduce_sum(log_probabilities * x, axis=1))  # multinomial likelihood
        if self.variational:
            kl = tf.reduce_mean(tf.reduce_sum(0.5 * (-log_variance + tf.exp(log_variance) + mean ** 2 - 1), axis=1))
            loss += self.beta * kl
        if self.losses:
            loss += tf.add_n(self.losses)
        return loss

    def train_step(self, data) -> dict[str, tf.Tensor]:
        x, _, _ = tf.keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            loss = self.negative_elbo(x)
        self.optimizer.apply_gradients(zip(tape.gradient(loss, self.trainable_variables), self.trainable_variables,
                                           strict=True))
        self.step.assign_add(1.0)
        return {"loss": loss}

    def to_numpy(self) -> UserAutoencoder:
        """The layers the served scores apply (``models.user_autoencoder``): Mult-VAE's mean code only."""
        layers, activations = [], []
        for layer in self.encoder:
            layers.append((layer.kernel.numpy(), layer.bias.numpy()))
            activations.append("tanh")
        kernel, bias = self.code.kernel.numpy(), self.code.bias.numpy()
        if self.variational:
            kernel, bias = kernel[:, :self.config.latent_dim], bias[:self.config.latent_dim]
        layers.append((kernel, bias))
        activations.append("linear" if self.variational else "tanh")
        for layer in (*self.decoder, self.logits):
            layers.append((layer.kernel.numpy(), layer.bias.numpy()))
            activations.append("tanh" if layer is not self.logits else "linear")
        return UserAutoencoder(kind(self.variational), tuple(layers), tuple(activations))


def kind(variational: bool) -> str:
    return "vae" if variational else "dae"
