"""talksearch: make recorded talks searchable down to the second.

The shared core lives here: settings, the model manifest and loaders, and the on-disk library
format that both the indexer (write side) and the service (read side) use.
"""

import os as _os

__version__ = "0.1.0"

# No data leaves the machine (README): onnxruntime (the embedder's runtime, and faster-whisper's voice detection)
# queues an event for Microsoft's collector at each import, and Hugging Face's libraries report use when they fetch
# a model, unless told not to. Said here, before either is imported, and inherited by every process talksearch
# starts (index jobs, Ray workers); a user's own setting of either wins.
for _switch in ("ORT_DISABLE_TELEMETRY", "HF_HUB_DISABLE_TELEMETRY"):
    _os.environ.setdefault(_switch, "1")
