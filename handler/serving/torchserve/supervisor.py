"""TorchServe as a child process: start it, wait until every worker has its model, stop it cleanly."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handler.errors import ArtifactError, ConfigError
from handler.serving.process import stop_process_group
from handler.serving.torchserve import STATUS_DIR

# Our log4j2 configuration: TorchServe's frontend never writes an exception's message (it may quote a body).
LOG_CONFIG = Path(__file__).resolve().parent / "log4j2.xml"


@dataclass
class TorchServe:
    """One TorchServe instance with its own working directory (logs, key file, pid file)."""

    workdir: Path
    model_store: Path
    config: Path
    models: Sequence[str]  # "name=archive.mar" entries loaded at start
    inference_url: str = "http://127.0.0.1:8080"
    management_url: str = "http://127.0.0.1:8081"
    env: Mapping[str, str] = field(default_factory=dict)
    plugins: Path | None = None  # folder of frontend plugin jars (our ready /ping)
    process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """The torchserve launcher command, in the foreground."""
        launcher = shutil.which("torchserve", path=str(Path(sys.executable).parent)) or "torchserve"
        command = [
            launcher,
            "--start",
            "--foreground",
            "--ncs",
            "--log-config",
            str(LOG_CONFIG),
            "--model-store",
            str(self.model_store.resolve()),
            "--ts-config",
            str(self.config.resolve()),
        ]
        if self.plugins is not None:
            command += ["--plugins-path", str(self.plugins.resolve())]
        return command + (["--models", *self.models] if self.models else [])

    def start(self, stdout: int | None = None) -> None:
        """Start in a new session, with private temporary folders.

        TMPDIR holds the launcher's pid file; TEMP becomes Java's java.io.tmpdir, where the
        worker sockets (.ts.sock.9000, ...) and unpacked models live. Shared, two instances on
        one machine would take over each other's workers.
        """
        workdir = self.workdir.resolve()  # the launcher runs there: relative paths would break
        tmp = workdir / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp / STATUS_DIR, ignore_errors=True)  # a former run's load errors are not ours
        env = {
            **os.environ,
            "TMPDIR": str(tmp),
            "TEMP": str(tmp),
            "LOG_LOCATION": str(workdir / "logs"),
            "METRICS_LOCATION": str(workdir / "logs"),
            **self.env,
        }
        self.process = subprocess.Popen(
            self.command(),
            cwd=workdir,
            env=env,
            start_new_session=True,
            stdout=stdout,
            stderr=subprocess.STDOUT if stdout is not None else None,
            umask=0o077,  # its sockets, logs and unpacked models: for this user only
        )

    @property
    def key_file(self) -> Path:
        """TorchServe's token file (written to its working directory)."""
        return self.workdir / "key_file.json"

    def token(self, kind: str = "inference") -> str | None:
        """The inference or management key, when token authorization is on."""
        try:
            return json.loads(self.key_file.read_text())[kind]["key"]
        except (FileNotFoundError, KeyError, json.JSONDecodeError):
            return None

    def headers(self, kind: str = "inference") -> dict[str, str]:
        """Authorization header for the inference (or management) API, if a key exists."""
        token = self.token(kind)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _get(self, url: str, kind: str) -> Any:
        request = urllib.request.Request(url, headers=self.headers(kind))
        with urllib.request.urlopen(request, timeout=2) as response:
            return json.loads(response.read())

    def workers_ready(self) -> bool:
        """Whether every worker of every loaded model has its model loaded.

        TorchServe's /ping counts a worker as healthy as soon as its process starts, before
        the model is loaded; the management API tells the truth.
        """
        names = [m.split("=", 1)[0] for m in self.models]
        for name in names:
            described = self._get(f"{self.management_url}/models/{name}", "management")
            workers = [w for entry in described for w in entry.get("workers", [])]
            if not workers or any(w.get("status") != "READY" for w in workers):
                return False
        return True

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Block until /ping answers 200 and every worker is READY; raise if TorchServe exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"TorchServe exited with {self.process.returncode}; see {self.workdir / 'logs'}")
            try:
                self._get(self.inference_url + "/ping", "inference")
                if self.workers_ready():
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"TorchServe did not answer /ping within {timeout:.0f} s; see {self.workdir / 'logs'}")

    def stop(self, grace: float = 30.0) -> int | None:
        """SIGTERM the whole process group (launcher, frontend, workers); SIGKILL what is left after `grace` s."""
        if self.process is None:
            return None
        return stop_process_group(self.process, grace)


def run_until_stopped(server: TorchServe, after_start: Callable[[], None] | None = None) -> int:
    """Run TorchServe until it exits (its exit code) or until SIGTERM or Ctrl-C (0 after a clean stop).

    `after_start` runs once TorchServe is launched; if it raises, TorchServe is stopped and
    the error is printed: exit code 1.
    """

    def stop_on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop_on_term)
    server.start()
    try:
        if after_start is not None:
            after_start()
        assert server.process is not None
        return server.process.wait()
    except (ArtifactError, ConfigError, RuntimeError, TimeoutError) as exc:
        print(f"serve: stopping: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("\nstopping TorchServe...", flush=True)
        return 0
    finally:
        server.stop(grace=25.0)  # SageMaker sends SIGKILL 30 s after SIGTERM
        signal.signal(signal.SIGTERM, previous)


def serve_foreground(server: TorchServe, sample: Path | None) -> int:
    """Start, print a ready-to-paste curl, and run until Ctrl-C or SIGTERM; stop cleanly either way."""

    def banner() -> None:
        server.wait_ready()
        if server.key_file.exists():
            server.key_file.chmod(0o600)  # the tokens: for this user's eyes only
        auth = server.headers().get("Authorization")
        body = f"--data-binary @{sample}" if sample else "--data-binary 'subject,message,...'"
        print("\nTorchServe is ready. Try:\n")
        print(f"  curl -X POST {server.inference_url}/invocations \\")
        if auth:
            print(f"    -H 'Authorization: {auth}' \\")
        print(f"    -H 'Content-Type: text/csv' {body}\n")
        print("Ctrl-C stops it.", flush=True)

    return run_until_stopped(server, banner)
