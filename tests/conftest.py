from __future__ import annotations

import pytest


@pytest.fixture(params=["uniform", "feistel"])
def permutation(request) -> str:
    return request.param
