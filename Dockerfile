# One image for both processes:
#   docker run IMAGE                      the webhook receiver under gunicorn (port 8000)
#   docker run IMAGE kgbridge worker      an RQ worker with the scheduler
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY connectors ./connectors
COPY flows ./flows
COPY webhooks ./webhooks
COPY mappings ./mappings
COPY kgbridge ./kgbridge
COPY cli.py worker.py ./
RUN pip install . && useradd --system --uid 10001 --home /nonexistent --shell /usr/sbin/nologin kgbridge

USER 10001
EXPOSE 8000
ENV KGBRIDGE_BIND=0.0.0.0:8000
CMD ["kgbridge", "serve"]
