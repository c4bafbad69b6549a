"""Exporting: SavedModels, the ScaNN index and the rest of an artifact version, written and published
atomically under a lock."""
