"""Shared fixtures: the real files in ../shared/data (skipped with a reason when absent).

Lightning attaches a logging handler to the stderr of the moment it is first imported; it is
imported here, before any test captures stderr, so that handler never points at a closed capture
stream (which shows as "--- Logging error ---" in a later test's output).
"""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch  # noqa: F401  (see the module docstring)
import pytest
import torch

from grainseg.models import build_model, save_model

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of the real sample files; skips the test when it is not there."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real sample data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> Path:
    """A tiny untrained U-Net saved as a model.pt (seeded): fast stand-in for a trained model."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "model.pt"
    save_model(path, build_model("unet", width=0.0625), {"median_px": 3, "patch": 64})
    return path
