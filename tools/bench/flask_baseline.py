"""The classic SageMaker predictor, as the original note builds it: Flask under gunicorn.

Each gunicorn worker loads the model once and answers one request at a time, with no
batching across requests. It reads and writes bodies with our codecs and predicts with the
offline Predictor in the mode `BSM_EXECUTION` names. `make bench` runs it twice: at fp32, the
note's design as written (a ratio against it credits the serving design and the runtime
together), and in the server's default mode (a ratio against that credits the serving design alone).

    BSM_MODEL_DIR=build/example-model gunicorn --chdir tools/bench -w 2 'flask_baseline:create_app()'
"""

from __future__ import annotations

import os

import flask

from handler.inference.loading import load_service
from handler.inference.resources import cpu_count, share_of_cores
from handler.inference.service import Request
from handler.inference.settings import ServingSettings

MODEL_DIR = "BSM_MODEL_DIR"  # the model directory (model.pth, model_artifacts.pth)
WORKERS = "BSM_BASELINE_WORKERS"  # gunicorn workers, to give each its share of the cores


def create_app() -> flask.Flask:
    """Load the model now (never on the first request) and route /ping and /invocations."""
    settings = ServingSettings.load()
    workers = int(os.environ.get(WORKERS, cpu_count()))
    service = load_service(os.environ[MODEL_DIR], settings, threads=share_of_cores(cpu_count(), workers))
    app = flask.Flask(__name__)

    @app.get("/ping")
    def ping() -> flask.Response:
        return flask.Response(status=200)

    @app.post("/invocations")
    def invocations() -> flask.Response:
        request = flask.request
        answer = service([Request(request.get_data(), request.content_type, request.headers.get("Accept"))])[0]
        return flask.Response(answer.body, status=answer.status, content_type=answer.content_type)

    return app
