import os

# TensorFlow's oneDNN CPU allocator keeps every freed tensor of 256 KiB or more in a pool of its own for the
# rest of the process, where nothing but TensorFlow can reuse it; the system allocator gives it back
# (``training.process_memory``). oneDNN's kernels stay on. TensorFlow reads this when it loads.
os.environ.setdefault("TF_ONEDNN_USE_SYSTEM_ALLOCATOR", "1")

import models  # noqa: E402,F401  (selects Keras 2 before TensorFlow loads)
