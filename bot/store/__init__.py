"""Storage port and its backends."""

from bot.ports import Store

__all__ = ["Store"]
