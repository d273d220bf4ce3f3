"""Fakes at the boundary: stand-ins for third-party modules, injected through sys.modules."""
