"""The numpy rating head must compute what the TensorFlow rating models compute, for every kind of model
the trainer can export, after a save/load round trip (it is what /recommend and /predict-rating run)."""

import numpy as np
import pytest
import tensorflow as tf

from models import rating_head
from models.autorec import AutoRecConfig, ItemAutoRec
from models.ensemble import RatingEnsemble
from models.features import RankingEncoderConfig
from models.neumf import NeuMF, NeuMFConfig
from models.ranking import DeepRankingModel, MatrixFactorization, MFConfig, RankingConfig
from models.vocabulary import ItemFeatureTables

N_USERS, N_ITEMS, RANGE = 12, 15, (1.0, 5.0)
SIZES = {"users": N_USERS + 1, "items": N_ITEMS + 1, "user_features": 2, "user_categories": 6, "age_buckets": 8,
         "genres": 5, "title_tokens": 9}


def _features(rng):
    users = np.arange(1, N_USERS + 1)
    return {
        "user": tf.constant(users, tf.int32),
        "categories": tf.constant(rng.integers(0, 6, (N_USERS, 2)), tf.int32),
        "age_bucket": tf.constant(rng.integers(0, 8, N_USERS), tf.int32),
        "recent_items": tf.constant(rng.integers(0, N_ITEMS + 1, (N_USERS, 6)), tf.int32),
        "recent_ratings": tf.constant(rng.integers(1, 6, (N_USERS, 6)), tf.float32),
    }


def _randomize(model, rng):
    """Trained-looking weights: non-zero biases and large enough values that ReLUs and clipping bite."""
    for variable in model.trainable_variables:
        variable.assign(rng.normal(0, 0.5, variable.shape).astype(np.float32))


def _models(rng):
    tables = ItemFeatureTables(genres=(rng.random((N_ITEMS + 1, 5)) < 0.3).astype(np.float32),
                               title_tokens=rng.integers(0, 9, (N_ITEMS + 1, 4)).astype(np.int32))
    encoder = RankingEncoderConfig(id_dim=6, feature_dim=3, use_history_ratings=True)
    matrix = (rng.random((N_ITEMS + 1, N_USERS + 1)) < 0.4) * rng.integers(1, 6, (N_ITEMS + 1, N_USERS + 1))
    deep = DeepRankingModel(SIZES, tables, 3.5, RankingConfig(encoder=encoder, hidden_widths=(8, 4)))
    return {
        "mf": MatrixFactorization(SIZES, 3.5, MFConfig(dim=5)),
        "deep": deep,
        "deep without cross": DeepRankingModel(SIZES, tables, 3.5,
                                               RankingConfig(encoder=encoder, hidden_widths=(7,), use_cross=False)),
        "autorec": ItemAutoRec(matrix.astype(np.float32), AutoRecConfig(hidden_size=10)),
        "neumf": NeuMF(SIZES, 3.5, NeuMFConfig(gmf_dim=4, mlp_dim=3, mlp_widths=(6, 5, 2))),
        "gmf alone": NeuMF(SIZES, 3.5, NeuMFConfig(gmf_dim=4), branches=("gmf",)),
        "mlp alone": NeuMF(SIZES, 3.5, NeuMFConfig(mlp_dim=3, mlp_widths=(4,)), branches=("mlp",)),
        "blend": RatingEnsemble({"deep": deep, "mf": MatrixFactorization(SIZES, 3.5, MFConfig(dim=4)),
                                 "autorec": ItemAutoRec(matrix.astype(np.float32), AutoRecConfig(hidden_size=7))},
                                np.array([0.2, 0.5, 0.3, 0.1], np.float32), RANGE),
    }


@pytest.mark.parametrize("kind", ["mf", "deep", "deep without cross", "autorec", "neumf", "gmf alone", "mlp alone",
                                  "blend"])
def test_numpy_head_reproduces_the_tensorflow_model(kind, tmp_path):
    rng = np.random.default_rng(7)
    model = _models(rng)[kind]
    features = _features(rng)
    items = rng.integers(1, N_ITEMS + 1, (N_USERS, 9))
    model({**features, "item": tf.constant(items, tf.int32)})  # builds the layers
    _randomize(model, rng)
    for part in [model, *getattr(model, "members", [])]:
        if isinstance(part, ItemAutoRec):
            part.refresh_codes()  # the item codes follow the new encoder weights
    expected = np.clip(model({**features, "item": tf.constant(items, tf.int32)}).numpy(), *RANGE)

    rating_head.save(tmp_path / "head.npz", model.head())
    head = rating_head.load(tmp_path / "head.npz")
    user_states = model.user_state(features).numpy()  # row r = user index r + 1
    item_states = model.item_state(tf.range(1, N_ITEMS + 1)).numpy()  # row r = item index r + 1
    ratings = rating_head.bind_clipped(head, item_states, RANGE)(user_states)(np.arange(N_USERS), items - 1)

    assert ratings.shape == items.shape and ratings.dtype == np.float32
    assert np.ptp(expected) > 0.5  # the check below is not comparing constants
    np.testing.assert_allclose(ratings, expected, atol=1e-4)


def test_a_foreign_file_is_refused(tmp_path):
    np.savez(tmp_path / "head.npz", kind=np.array("transformer"))
    with pytest.raises(ValueError, match="unknown rating head kind"):
        rating_head.load(tmp_path / "head.npz")


def test_a_training_example_never_sees_its_own_item_and_rating():
    """The loss is computed as if the target were absent from the history, as it is at validation,
    test and serving time; without the exclusion the model could read its label off its input."""
    rng = np.random.default_rng(3)
    model = _models(rng)["deep"]
    features = _features(rng)
    targets = features["recent_items"].numpy()[:, 0].copy()
    targets[targets == 0] = 1
    recent = features["recent_items"].numpy()
    recent[:, 0] = targets  # every user's history holds the target
    labels = rng.integers(1, 6, N_USERS).astype(np.float32)
    with_target = {**features, "recent_items": tf.constant(recent), "item": tf.constant(targets, tf.int32),
                   "rating": tf.constant(labels)}
    without = {**with_target, "recent_items": tf.constant(np.where(recent == targets[:, None], 0, recent))}
    model(with_target)
    _randomize(model, rng)

    leaked = model(with_target).numpy()  # what training saw before the fix
    honest = model(without).numpy()
    assert np.abs(leaked - honest).max() > 1e-3  # the history matters, so the check below can fail
    model.compile()
    assert float(model.compute_loss(with_target)) == pytest.approx(float(np.mean((honest - labels) ** 2)), rel=1e-4)


def test_neumf_fused_from_gmf_and_mlp_predicts_their_weighted_interactions():
    """The paper's initialisation: the fused model's interaction term is alpha x GMF's + (1 - alpha) x MLP's."""
    rng = np.random.default_rng(5)
    config = NeuMFConfig(gmf_dim=4, mlp_dim=3, mlp_widths=(6, 2), alpha=0.3)
    gmf, mlp = NeuMF(SIZES, 3.5, config, ("gmf",)), NeuMF(SIZES, 3.5, config, ("mlp",))
    for model in (gmf, mlp):
        model.build_all()
        _randomize(model, rng)
    fused = NeuMF.fused(gmf, mlp, SIZES, 3.5, config)
    features = {"user": tf.constant(np.arange(1, N_USERS + 1), tf.int32)}
    items = tf.constant(rng.integers(1, N_ITEMS + 1, N_USERS), tf.int32)

    def interaction(model):
        users, item_states = model.user_state(features), model.item_state(items)
        return model.interaction(users[:, 1:], item_states[:, 1:], training=False).numpy()

    expected = 0.3 * interaction(gmf) + 0.7 * interaction(mlp)
    assert np.ptp(expected) > 0.1
    np.testing.assert_allclose(interaction(fused), expected, atol=1e-5)
