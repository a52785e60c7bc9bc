"""Helpers for training frameworks; each submodule imports its framework lazily."""
