"""`python -m quantadvisor` runs the CLI."""

from .cli import entry

entry()
