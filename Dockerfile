# One image for both processes:
#   docker run IMAGE                      the webhook receiver under gunicorn (port 8000)
#   docker run IMAGE kgbridge worker      an RQ worker with the dispatcher and the periodic tasks
# docker-compose.yml runs both with Redis; README "Running in production".
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# The dependencies first, in their own layer, at the versions the tests ran with (requirements.lock,
# made by `make lock`): a code change rebuilds only the layers below.
COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock

COPY pyproject.toml README.md ./
COPY connectors ./connectors
COPY flows ./flows
COPY webhooks ./webhooks
COPY mappings ./mappings
COPY kgbridge ./kgbridge
COPY cli.py worker.py ./
# --no-deps: everything it needs is already installed from the lock; the demo extra (an in-process
# Redis for `kgbridge embedded`) is not part of the image.
RUN pip install --no-deps . && pip check \
    && useradd --system --uid 10001 --home /nonexistent --shell /usr/sbin/nologin kgbridge

USER 10001
EXPOSE 8000
ENV KGBRIDGE_BIND=0.0.0.0:8000
# The receiver's liveness; a worker container overrides it with `kgbridge worker-check`
# (docker-compose.yml).
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
CMD ["kgbridge", "serve"]
