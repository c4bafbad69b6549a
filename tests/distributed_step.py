"""A worker of ``test_distributed``'s equivalence check, run as a script under ``run_local_workers``:
trains the real matrix-factorization rating model from fixed weights over fixed rows through the
trainer's own code (``distribute``, ``compiled``, ``keras_epoch``), and the chief saves the weights.

Rows are not shuffled, and worker w holds every other row from w, in batches of half the batch size: the
rows of a step on two workers are then exactly the rows of that step on one, so the weights must be equal.
"""

import sys

import models  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from training.fit import distribute

cluster = distribute.start()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from models.ranking import MatrixFactorization, MFConfig  # noqa: E402
from training.fit.loop import compiled, keras_epoch  # noqa: E402

N_ROWS, BATCH, USERS, ITEMS = 1000, 100, 30, 20
rng = np.random.default_rng(0)
columns = {"user": rng.integers(1, USERS, N_ROWS).astype(np.int32), "item": rng.integers(1, ITEMS, N_ROWS).astype(
    np.int32), "rating": rng.integers(1, 6, N_ROWS).astype(np.float32)}
rows = cluster.shard(N_ROWS)
batches = distribute.equal_steps(tf.data.Dataset.from_tensor_slices({name: values[rows] for name, values in
                                                                     columns.items()}).batch(
    cluster.local_batch(BATCH)), N_ROWS, BATCH)
model = compiled(lambda: MatrixFactorization({"users": USERS, "items": ITEMS}, 3.0, MFConfig(dim=4, l2=1e-2)),
                 lambda: tf.keras.optimizers.Adam(0.05))
with distribute.scope():  # Keras creates the variables at the first call: on the strategy
    model({"user": columns["user"][:2], "item": columns["item"][:2]})
start = np.random.default_rng(1)
model.set_weights([start.normal(scale=0.3, size=weights.shape).astype(np.float32) for weights in model.get_weights()])
train_epoch = keras_epoch(model, batches)
losses = [train_epoch() for _ in range(3)]
if cluster.is_chief:
    np.savez(sys.argv[1], np.array(losses), *model.get_weights())
