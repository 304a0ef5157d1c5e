"""The floor for "record, then answer": a Flask endpoint that only pushes the body to Redis.

    gunicorn 'benchmarks.bare_app:create_app()'   (BENCH_REDIS_URL names the Redis)
"""

from __future__ import annotations

import os

import redis
from flask import Flask, jsonify, request


def create_app() -> Flask:
    app = Flask("bare")
    connection = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])

    @app.post("/webhooks/kintone/<token>")
    def receive(token: str):
        connection.rpush("bare:bodies", request.get_data(cache=False))
        return jsonify(ok=True)

    return app
