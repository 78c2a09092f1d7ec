"""The HTTP API: FastAPI routes over the flow service (and the control plane).

Every route goes through one authentication and scope dependency (``api.auth``); errors
are RFC 9457 problem documents (``api.problems``).
"""
