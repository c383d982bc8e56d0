"""When the GPU engines' tests run: whenever torch and diffusers are installed, and always in CI.

Locally a developer without the ``gpu`` extra gets a clean skip that says how to
install it (scripts/install-test-extras). Under CI=true nothing is skipped: a
missing package makes the tests fail loudly instead of passing by skipping.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

GPU_STACK = ("torch", "diffusers", "transformers")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
HAVE_GPU_STACK = all(importlib.util.find_spec(name) is not None for name in GPU_STACK)

SKIP_REASON = "torch/diffusers not installed; run scripts/install-test-extras"
SKIP_GPU_TESTS = not HAVE_GPU_STACK and not IN_CI

requires_gpu_stack = pytest.mark.skipif(SKIP_GPU_TESTS, reason=SKIP_REASON)


def need_gpu_stack() -> None:
    """For fixtures: skip (or, under CI, carry on and fail on the import) without torch."""
    if SKIP_GPU_TESTS:
        pytest.skip(SKIP_REASON)
    quiet_torch()


def quiet_torch() -> None:
    """One CPU thread: the tiny models are latency-bound and the machine is shared."""
    import torch

    torch.set_num_threads(1)
