"""SIGTERM as an exception while a lab is up, and a teardown that signals do not cut short
(they live with the providers, whose ``Lab.__exit__`` shields its teardown)."""

from __future__ import annotations

from ..providers.signals import Terminated, sigterm_raises, teardown_shielded

__all__ = ["Terminated", "sigterm_raises", "teardown_shielded"]
