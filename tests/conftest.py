from __future__ import annotations

import os

import pytest
from hypothesis import settings

# In CI the property and fuzz tests replay the same examples every run (a red CI blocks every
# change, so it must not depend on luck); locally they explore new examples each run.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(params=["uniform", "feistel"])
def permutation(request) -> str:
    return request.param
