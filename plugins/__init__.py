"""Partner plugins: the hooks (hookspecs.py), the plugin manager, and the built-in programs."""

from plugins.hookspecs import hookimpl

__all__ = ["hookimpl"]
