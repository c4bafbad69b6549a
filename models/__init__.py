"""Model definitions shared by the trainer and the server.

TensorFlow Recommenders needs Keras 2 (tf-keras); TensorFlow picks the Keras version when it is first
imported, so the switch is set here, before any submodule imports TensorFlow.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
