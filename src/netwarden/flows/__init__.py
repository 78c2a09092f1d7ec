"""Flow visibility: decode Hubble flows (more to come: ingest, store, query, live tail)."""

from netwarden.flows.decode import (
    Decoded,
    DecodeResult,
    FlowStream,
    Skipped,
    decode_file,
    decode_line,
    decode_lines,
    decode_object,
    decode_path,
    decode_text,
)

__all__ = [
    "DecodeResult",
    "Decoded",
    "FlowStream",
    "Skipped",
    "decode_file",
    "decode_line",
    "decode_lines",
    "decode_object",
    "decode_path",
    "decode_text",
]
