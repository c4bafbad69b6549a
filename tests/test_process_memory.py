"""The trainer's memory bookkeeping: freed per-rating arrays go back to the system, so do heap pages that
only hold freed blocks once trimmed, and the per-stage high-water mark can be reset. Each allocation pattern
runs in a fresh interpreter, whose allocator has no history."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from training.process_memory import peak_rss_mib, reset_peak_rss, return_freed_blocks

ROOT = Path(__file__).resolve().parents[1]
# Frees one 16 MiB array (glibc then raises its mmap threshold to 16 MiB), makes twenty 8 MiB arrays, frees
# all but the last, and prints how many MiB the process still holds of them.
HELD_AFTER_FREE = """
import sys
import numpy as np
from training.process_memory import return_freed_blocks, status_mib

if sys.argv[1] == "fixed":
    assert return_freed_blocks()
np.ones(16 << 20, np.uint8)
before = status_mib()
blocks = [np.ones(8 << 20, np.uint8) for _ in range(20)]
del blocks[:-1]
print(round(status_mib() - before))
"""

# Makes 400 arrays of 256 KiB (below the mmap threshold: from the heap), each followed by a small block that
# stays alive, frees the arrays, and prints the MiB held of them before and after release_free_pages.
HELD_UNTIL_TRIMMED = """
import numpy as np
from training.process_memory import release_free_pages, return_freed_blocks, status_mib

assert return_freed_blocks()
before = status_mib()
blocks, pins = [], []
for _ in range(400):
    blocks.append(np.ones(256 << 10, np.uint8))
    pins.append(bytearray(4096))
del blocks
held = status_mib() - before
release_free_pages()
print(round(held), round(status_mib() - before))
"""

linux_only = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")


def _child(script: str, *args: str) -> list[int]:
    """What ``script`` prints, as integers, run in a fresh interpreter."""
    # The child's allocator must start from glibc's defaults, whatever tuning this shell exports.
    env = {name: value for name, value in os.environ.items() if not name.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    run = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True)
    return [int(value) for value in run.stdout.split()]


@linux_only
def test_freed_arrays_go_back_to_the_system_once_the_threshold_is_fixed():
    # glibc's default keeps the nineteen freed 8 MiB arrays in its heap; a fixed threshold returns them.
    assert _child(HELD_AFTER_FREE, "default")[0] >= 19 * 8 - 8
    assert _child(HELD_AFTER_FREE, "fixed")[0] <= 8 + 4


@linux_only
def test_heap_pages_of_freed_blocks_go_back_once_trimmed():
    # 100 MiB of freed 256 KiB arrays, pinned in the heap by live blocks above each: resident until trimmed.
    held, after_trim = _child(HELD_UNTIL_TRIMMED)
    assert held >= 80
    assert after_trim <= 20


@linux_only
def test_the_peak_is_reset_per_stage():
    assert return_freed_blocks()
    block = np.ones(64 << 20, np.uint8)
    high = peak_rss_mib()
    del block
    reset_peak_rss()
    assert peak_rss_mib() < high - 48
