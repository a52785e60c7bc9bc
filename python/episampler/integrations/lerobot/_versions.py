"""`episampler.lerobot.versions` under its earlier name (the same module object)."""

import sys

from episampler.lerobot import versions as _module

sys.modules[__name__] = _module
