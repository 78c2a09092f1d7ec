"""The cluster agent: pulls its cluster's desired state from the control plane, applies
it through a backend (a real Kubernetes cluster, or a simulated one), reports status,
inventory and drift, and ships the cluster's flows to the ingestion endpoint."""
