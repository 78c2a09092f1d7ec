"""Policy sources: Kubernetes objects -> normalized rules and inventory, located diagnostics."""
