"""Policy sources: Kubernetes objects -> normalized rules and inventory, with located diagnostics."""
