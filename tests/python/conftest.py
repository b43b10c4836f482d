"""What every Python test shares: no shared-memory segment of this process
may outlive a test."""
import gc
import glob
import os

import pytest


def leftovers():
    """This user's gpudf segments in /dev/shm."""
    return sorted(glob.glob(f"/dev/shm/gpudf-{os.geteuid()}[-+]*"))


@pytest.fixture(autouse=True)
def no_segments_left_behind():
    before = set(leftovers())
    yield
    gc.collect()
    mine = [p for p in set(leftovers()) - before if f".{os.getpid()}." in p]
    assert not mine, f"left in /dev/shm: {mine}"
