"""The control plane: fleet, roles, versioned policies, blueprints, rollout, audit."""
