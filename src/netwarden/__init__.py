"""Netwarden: zero-trust network policy engine and fleet control plane for Cilium clusters."""

__version__ = "0.1.0"
