"""Earlier home of `episampler.lerobot.layout` and `episampler.lerobot.auto_window`; their names
are re-exported here so that imports of this module keep working."""

from episampler.lerobot.auto_window import (
    CACHE_SIZE_VARIABLE,
    LEROBOT_DEFAULT_CACHE_SIZE,
    AutoWindow,
    auto_window,
    choose_window,
    decoder_cache_size,
    resolve_auto_window,
)
from episampler.lerobot.layout import GROUP_BY, lerobot_arguments, lerobot_groups

__all__ = [
    "CACHE_SIZE_VARIABLE",
    "GROUP_BY",
    "LEROBOT_DEFAULT_CACHE_SIZE",
    "AutoWindow",
    "auto_window",
    "choose_window",
    "decoder_cache_size",
    "lerobot_arguments",
    "lerobot_groups",
    "resolve_auto_window",
]
