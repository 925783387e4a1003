"""pmemctl: declarative vSphere Persistent Memory management.

The package is a library first; :mod:`pmemctl.cli` is a thin Click shell over it.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
