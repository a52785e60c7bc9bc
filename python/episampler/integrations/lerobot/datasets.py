"""`episampler.lerobot.datasets` under its earlier name (the same module object)."""

import sys

from episampler.lerobot import datasets as _module

sys.modules[__name__] = _module
