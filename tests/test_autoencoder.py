"""Mult-VAE / Mult-DAE mechanics: the served numpy scores are the TensorFlow model's, the batches are the
users' interaction vectors, beta follows its annealing schedule, and training lowers the loss."""

import numpy as np
import pytest
import tensorflow as tf

from models import user_autoencoder
from models.mult_vae import AutoencoderConfig, MultVAE
from models.selection import SeenItems
from training.fit.autoencoder import interaction_vectors

N_ITEMS = 12
SEEN = SeenItems.from_lists([np.array([0, 3, 4]), np.array([], np.int64), np.array([11]), np.array([1, 2, 5, 7])],
                            N_ITEMS)
CONFIG = AutoencoderConfig(hidden_widths=(7,), latent_dim=3, dropout=0.5, anneal_cap=0.4)


def _dense(seen: SeenItems, rows) -> np.ndarray:
    matrix = np.zeros((len(rows), seen.n_columns), np.float32)
    for position, row in enumerate(rows):
        matrix[position, seen.of(int(row))] = 1
    return matrix


@pytest.mark.parametrize("variational", [True, False])
def test_numpy_scores_are_the_log_softmax_of_the_mean_code_logits(variational, tmp_path):
    tf.keras.utils.set_random_seed(1)
    model = MultVAE(N_ITEMS, CONFIG, variational, anneal_steps=10)
    rows = np.array([0, 1, 2, 3])
    x = _dense(SEEN, rows)
    expected = tf.nn.log_softmax(model(tf.constant(x))).numpy()  # training=False: mean code, no dropout

    user_autoencoder.save(tmp_path / "autoencoder.npz", model.to_numpy())
    served = user_autoencoder.load(tmp_path / "autoencoder.npz")
    scores = served.scores(SEEN, rows)

    assert served.kind == ("vae" if variational else "dae") and scores.shape == (4, N_ITEMS)
    assert np.ptp(expected[0]) > 0.05  # the users' scores differ, so the check below can fail
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    np.testing.assert_allclose(np.exp(scores).sum(axis=1), 1.0, rtol=1e-5)


def test_layers_that_do_not_chain_back_to_the_catalog_are_refused():
    layers = ((np.zeros((5, 3), np.float32), np.zeros(3, np.float32)),
              (np.zeros((3, 4), np.float32), np.zeros(4, np.float32)))
    with pytest.raises(ValueError, match="do not chain"):
        user_autoencoder.UserAutoencoder("dae", layers, ("tanh", "linear"))


def test_batches_are_the_interaction_vectors_of_users_with_items():
    batches = list(interaction_vectors(SEEN, batch_size=2, seed=0))
    rows = np.concatenate([batch.numpy() for batch in batches])
    assert [len(batch) for batch in batches] == [2, 1]  # user 1 has no items and is left out
    expected = {tuple(row) for row in _dense(SEEN, [0, 2, 3])}
    assert {tuple(row) for row in rows} == expected


def test_beta_grows_by_step_up_to_the_cap_and_training_lowers_the_loss():
    tf.keras.utils.set_random_seed(2)
    vae = MultVAE(N_ITEMS, CONFIG, variational=True, anneal_steps=4)
    dae = MultVAE(N_ITEMS, CONFIG, variational=False, anneal_steps=4)
    x = tf.constant(_dense(SEEN, [0, 2, 3]))
    for model in (vae, dae):
        model.compile(optimizer=tf.keras.optimizers.Adam(0.01))
    betas = []
    for _ in range(6):
        betas.append(float(vae.beta))
        vae.train_on_batch(x)
    assert betas == pytest.approx([0.0, 0.25, 0.4, 0.4, 0.4, 0.4])  # 1/4 per step, capped at 0.4
    assert float(dae.beta) == 0.0
    before = float(dae.negative_elbo(x))
    for _ in range(60):
        dae.train_on_batch(x)
    assert float(dae.negative_elbo(x)) < 0.8 * before
