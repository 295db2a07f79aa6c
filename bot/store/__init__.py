"""Storage port and its backends."""

from bot.store.base import Store

__all__ = ["Store"]
