"""What the command lines of `benches/compare.py` and `episampler.inspect` share."""

from __future__ import annotations

import argparse


def require_matplotlib() -> None:
    """Exit with what to install when matplotlib (the optional extra `bench`) is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SystemExit(
            "--plot needs matplotlib: pip install matplotlib (from a checkout of episampler, "
            "pip install '.[bench]' installs the same extra)"
        ) from None


def count(text: str, *, low: int = 1) -> int:
    """An integer count of at least `low`, also written as `1e6` or `1_000_000` (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not number.is_integer():
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        value = int(number)
    if value < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}: {text!r}")
    return value
