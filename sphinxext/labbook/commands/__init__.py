"""Subcommands of ``labbook``; each module has ``register(subparsers)``."""
