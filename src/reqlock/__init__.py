"""reqlock: lock requirements.txt files into hashed PEP 751 lock files."""

from __future__ import annotations

__all__ = ["ReqlockError", "__version__"]

from reqlock.errors import ReqlockError

__version__ = "0.1.0.dev0"
