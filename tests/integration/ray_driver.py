"""A second Ray driver in a process of its own: joins a running Ray, then calls the scorers through Ray's handle.

`python -m tests.integration.ray_driver ADDRESS [MODEL_DIR...]` prints "joined", then one JSON line per call.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

CALLS = ("describe", "infer", "model")


def main(argv: Sequence[str]) -> int:
    """Join the Ray at argv[0]; ask each scorer method about each model directory after it."""
    import ray
    from ray import serve

    from handler.inference.protocol import Request
    from handler.serving.ray.app import SCORER_APP

    address, *model_dirs = argv
    ray.init(address=address, log_to_driver=False)
    print("joined", flush=True)
    scorer = serve.get_app_handle(SCORER_APP)
    request = Request(b"s,where is my order,US,email,1,2\n", "text/csv")
    for model_dir in model_dirs:
        for call in CALLS:
            args = (model_dir, request) if call == "infer" else (model_dir,)
            try:
                answer = getattr(scorer, call).remote(*args).result(timeout_s=120)
                outcome = {"answered": repr(answer)[:200]}
            except Exception as exc:  # Ray wraps the replica's error: RayTaskError(InvalidInput)
                outcome = {"refused": type(exc).__name__, "message": str(exc).strip().splitlines()[-1]}
            print(json.dumps({"call": call, "model_dir": model_dir, **outcome}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
