"""Loading data: readers of every input format, the checks that clean it, honest splits, and the model
inputs built from the training part only (vocabularies, histories, tf.data pipelines)."""
