"""Fitting models: the Keras loop with early stopping on validation, and each model family's training
(two-tower retrieval, the rating blend, GRU4Rec, NARM)."""
