"""Clients of Netwarden's own HTTP API (used by the CLI and the cluster agent)."""
