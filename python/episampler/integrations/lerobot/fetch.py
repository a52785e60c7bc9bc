"""`episampler.lerobot.fetch` under its earlier name (the same module object)."""

import sys

from episampler.lerobot import fetch as _module

sys.modules[__name__] = _module
