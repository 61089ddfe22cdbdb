# formicr worker image: the runtime only (no TensorFlow); the shipped model is baked in.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    FORMICR_INPUT_ROOT=/data/inbox FORMICR_OUTPUT_ROOT=/data/outbox \
    FORMICR_ORT_THREADS=1

RUN useradd --create-home --uid 1000 formicr
WORKDIR /app
COPY pyproject.toml README.md ./
COPY segmentation ./segmentation
COPY worker ./worker
COPY training/__init__.py ./training/__init__.py
COPY models ./models
RUN pip install --no-cache-dir . \
    && mkdir -p /data/inbox /data/outbox && chown -R formicr /data

USER formicr
VOLUME ["/data/inbox", "/data/outbox"]
ENTRYPOINT ["formicr"]
CMD ["worker"]
