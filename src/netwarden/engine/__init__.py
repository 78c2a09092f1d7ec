"""The policy engine: a pure library (no web, ORM, database or Kubernetes client)."""
