"""Evaluating against baselines: metric definitions, the classical baselines every model is compared
with, the publish gate and the report."""
