"""`episampler.lerobot.options` under its earlier name (the same module object)."""

import sys

from episampler.lerobot import options as _module

sys.modules[__name__] = _module
