"""What the optional plots (`--plot` of `episampler.bench` and `episampler.inspect`) share."""

from __future__ import annotations


def require_matplotlib() -> None:
    """Exit with what to install when matplotlib (the optional extra `bench`) is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SystemExit(
            "--plot needs matplotlib, an optional extra: pip install 'episampler[bench]' "
            "(or pip install matplotlib)"
        ) from None
