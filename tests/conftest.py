import os

import pytest


@pytest.fixture(autouse=True)
def _experiments_in_tmp(tmp_path, monkeypatch):
    """Every test writes its experiments under its own tmp folder, never in the user's home."""
    monkeypatch.setenv("ASHA_LESSON_HOME", str(tmp_path / "experiments"))
    os.environ.setdefault("MPLBACKEND", "Agg")
