"""The `bsm` command: train models and build the example model."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from handler import environment

TRAIN_REQUIRED = ("text_columns", "label_column")


def _parse_bool(text: str) -> bool:
    lowered = str(text).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not a boolean, expected true or false")


def _parse_list(text: str | list[Any]) -> list[str]:
    if isinstance(text, list):
        return [str(t) for t in text]
    stripped = str(text).strip()
    if stripped.startswith("["):  # a JSON list, as SageMaker hyperparameters may carry
        return [str(t) for t in json.loads(stripped)]
    return [t.strip() for t in stripped.split(",") if t.strip()]


def _parser_for(field: dataclasses.Field[Any]) -> Any:
    """String -> value for a TrainConfig field, chosen from its declared type."""
    kind = str(field.type)
    if kind.startswith("list"):
        return _parse_list
    return {"bool": _parse_bool, "int": int, "float": float}.get(kind, str)


def train_config_from(values: Mapping[str, Any]) -> Any:
    """A TrainConfig from strings keyed by field name (CLI options or SageMaker hyperparameters)."""
    from handler.training import TrainConfig

    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"unknown training options {unknown}; known: {sorted(fields)}")
    missing = [k for k in TRAIN_REQUIRED if values.get(k) in (None, "", [])]
    if missing:
        raise ValueError(f"missing training options {missing}")
    parsed = {}
    for key, raw in values.items():
        if raw is None:
            continue
        try:
            parsed[key] = _parser_for(fields[key])(raw)
        except ValueError as exc:
            raise ValueError(f"training option {key!r}: {exc}") from exc
    return TrainConfig(**parsed)


def read_table(path: Path) -> pd.DataFrame:
    """A CSV file, or every CSV file of a folder (a SageMaker channel), as strings.

    Cells stay strings, empty cells stay empty: the schema then reads them exactly as it
    reads a CSV request at serving time.
    """
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    if not files:
        raise FileNotFoundError(f"no CSV files in {path}")
    return pd.concat(
        [pd.read_csv(f, dtype=str, keep_default_na=False) for f in files], ignore_index=True
    )


def _encoder(name: str) -> Any:
    from handler.training import EncoderSource

    if name == "minilm":
        from handler.example.build import minilm_encoder

        return minilm_encoder()
    if name == "tiny":
        return EncoderSource.tiny()
    return EncoderSource.pretrained(name)


def cmd_train(args: argparse.Namespace) -> int:
    from handler import artifacts
    from handler.training import train

    if args.sagemaker:
        hyper_file = environment.training_hyperparameters_file()
        hyper = json.loads(hyper_file.read_text()) if hyper_file.exists() else {}
        encoder = hyper.pop("encoder", args.encoder)
        train_path = environment.training_channel("train")
        test_dir = environment.training_channel("test")
        test_path = test_dir if test_dir.exists() else None
        out = environment.training_model_dir()
        values = hyper
    else:
        if args.train is None or args.out is None:
            raise SystemExit("bsm train: --train and --out are required (or --sagemaker)")
        encoder, train_path, test_path, out = args.encoder, args.train, args.test, args.out
        names = {f.name for f in _train_fields()}
        values = {k: v for k, v in vars(args).items() if k in names and v is not None}
    config = train_config_from(values)
    evaluation = read_table(test_path) if test_path else None
    predictor = train(read_table(train_path), config, _encoder(encoder), evaluation, progress=not args.quiet)
    artifacts.save(out, predictor.model.state_dict(), predictor.artifacts)
    print(f"model written to {out}: {json.dumps(predictor.artifacts.metrics)}")
    return 0


def cmd_example(args: argparse.Namespace) -> int:
    from handler.example.build import build

    build(args.out, force=args.force, progress=not args.quiet)
    return 0


def cmd_serve_local(args: argparse.Namespace) -> int:
    from handler.server import TorchServe, client_url, read_properties, serve_foreground

    args.workdir.mkdir(parents=True, exist_ok=True)
    properties = read_properties(args.config)
    server = TorchServe(
        workdir=args.workdir, model_store=args.model_store, config=args.config, models=args.model,
        inference_url=client_url(properties.get("inference_address", "http://127.0.0.1:8080")),
        management_url=client_url(properties.get("management_address", "http://127.0.0.1:8081")),
        plugins=args.plugins,
    )
    return serve_foreground(server, args.sample)


def cmd_transform(args: argparse.Namespace) -> int:
    from handler import transform as t

    if (args.endpoint is None) == (args.in_process is None):
        raise ValueError("give exactly one of --endpoint URL and --in-process MODEL_DIR")
    if any(":" not in h for h in args.header):
        raise ValueError(f"--header takes 'Name: value', got {[h for h in args.header if ':' not in h]}")
    headers = {name.strip(): value.strip() for name, value in (h.split(":", 1) for h in args.header)}
    args.output.mkdir(parents=True, exist_ok=True)
    service = t.in_process_service(args.in_process) if args.in_process else None  # load the model once
    failed = []
    for path in t.input_files(args.input):
        content_type = args.content_type or t.CONTENT_TYPES.get(path.suffix, "text/csv")
        accept = args.accept or content_type
        send = (t.in_process_sender(service, content_type, accept) if service is not None
                else t.HttpSender(args.endpoint, content_type, accept, headers, retries=args.retries))
        try:
            rows = t.transform_file(path, args.output, send, content_type, int(args.max_payload_mb * 1024 * 1024),
                                    args.concurrency, args.join_input, progress=not args.quiet)
            print(f"{path.name}: {rows} records -> {args.output / (path.name + '.out')}")
        except t.TransformError as exc:
            print(f"{path.name}: failed, no output written: {exc}", file=sys.stderr)
            failed.append(path.name)
    return 1 if failed else 0


def cmd_bench(args: argparse.Namespace) -> int:
    from handler.bench.runner import BenchConfig, run
    from handler.execution import Execution

    options: dict[str, Any] = {"model_dir": args.model_dir, "out": args.out, "data": args.data,
                               "baseline": not args.no_baseline, "startup": not args.no_startup}
    if args.execution:
        options["execution"] = Execution.parse(args.execution)
    if args.duration:
        options["duration"] = args.duration
    if args.clients:
        options["clients"] = tuple(int(c) for c in _parse_list(args.clients))
    config = BenchConfig.quick_run(**options) if args.quick else BenchConfig(**options)
    run(config)
    print((args.out / "results.md").read_text())
    return 0


def _train_fields() -> list[dataclasses.Field[Any]]:
    from handler.training import TrainConfig

    return list(dataclasses.fields(TrainConfig))


def build_parser() -> argparse.ArgumentParser:
    """The `bsm` argument parser."""
    parser = argparse.ArgumentParser(prog="bsm", description=__doc__)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser(
        "train",
        help="fit processors and train a model on a CSV",
        description="Fit the processors on a CSV, train the model, write model.pth and "
        "model_artifacts.pth. List options take comma-separated column names. With --sagemaker, "
        "read SageMaker's training layout instead: hyperparameters.json (same names as these "
        "options, with underscores), the 'train' and optional 'test' channels, and write to the "
        "model directory.",
    )
    train.add_argument("--train", type=Path, help="training CSV file or folder of CSV files")
    train.add_argument("--test", type=Path, help="held-out CSV for the reported accuracy")
    train.add_argument("--out", type=Path, help="output model directory")
    train.add_argument("--encoder", default="minilm",
                       help="'minilm' (bundled all-MiniLM-L6-v2), 'tiny' (small random BERT), "
                       "or a Hugging Face model folder")
    train.add_argument("--sagemaker", action="store_true", help="use SageMaker's /opt/ml layout")
    for field in _train_fields():
        flag = "--" + field.name.replace("_", "-")
        default = field.default if field.default is not dataclasses.MISSING else None
        train.add_argument(flag, dest=field.name, type=_parser_for(field), default=None,
                           help=f"default: {default}" if default is not None else None)
    train.set_defaults(func=cmd_train)

    example = sub.add_parser("example", help="build (or reuse) the example model")
    example.add_argument("--out", type=Path, default=Path("build/example-model"))
    example.add_argument("--force", action="store_true", help="rebuild even when up to date")
    example.set_defaults(func=cmd_example)

    transform = sub.add_parser(
        "transform", help="batch transform files as SageMaker does (Line split, MultiRecord)",
        description="Split CSV or JSON Lines files by line into MultiRecord payloads, send them to an "
        "endpoint (or predict in process), and write <file>.out with one line per record, in order.",
    )
    transform.add_argument("input", type=Path, help="a file, or a folder of .csv/.jsonl files")
    transform.add_argument("output", type=Path, help="folder for the .out files")
    transform.add_argument("--endpoint", help="URL to POST to, e.g. http://localhost:8080/invocations")
    transform.add_argument("--in-process", type=Path, metavar="MODEL_DIR", help="predict without a server")
    transform.add_argument("--content-type", help="default: from the file extension")
    transform.add_argument("--accept", help="default: the content type")
    transform.add_argument("--max-payload-mb", type=float, default=6.0, help="default: 6 (SageMaker's default)")
    transform.add_argument("--concurrency", type=int, default=4, help="requests in flight (default: 4)")
    transform.add_argument("--retries", type=int, default=3, help="retries of 429/5xx/connection errors")
    transform.add_argument("--join-input", action="store_true", help="JoinSource=Input: input line, then output")
    transform.add_argument("--header", action="append", default=[], help="extra 'Name: value' header")
    transform.set_defaults(func=cmd_transform)

    local = sub.add_parser("serve-local", help="run TorchServe in the foreground with config.properties")
    local.add_argument("--model", action="append", required=True, help="NAME=ARCHIVE.mar in the model store")
    local.add_argument("--model-store", type=Path, default=Path("model_store"))
    local.add_argument("--config", type=Path, default=Path("config.properties"))
    local.add_argument("--workdir", type=Path, default=Path("build/torchserve"),
                       help="TorchServe's working directory: logs and key_file.json (the tokens)")
    local.add_argument("--sample", type=Path, help="a CSV request body for the printed curl")
    local.add_argument("--plugins", type=Path, help="folder of bsm-plugins.jar (a /ping that means ready)")
    local.set_defaults(func=cmd_serve_local)

    bench = sub.add_parser("bench", help="benchmark: in-process limit, our server and a Flask baseline, in one run")
    bench.add_argument("--model-dir", type=Path, default=Path("build/example-model"))
    bench.add_argument("--out", type=Path, default=Path("build/bench"), help="results.md, results.json, PNG plots")
    bench.add_argument("--data", type=Path, help="CSV of request rows (default: MODEL_DIR/data/test.csv)")
    bench.add_argument("--quick", action="store_true", help="every part, shorter: about two minutes")
    bench.add_argument("--duration", type=float, help="seconds per load point (default 8; quick 3)")
    bench.add_argument("--clients", help="client counts, e.g. 1,4,16 (default 1,2,4,8,16,32)")
    bench.add_argument("--execution", help="fp32, bf16, int8 or auto (default: model-config.yaml's)")
    bench.add_argument("--no-baseline", action="store_true", help="skip the Flask baseline")
    bench.add_argument("--no-startup", action="store_true", help="skip the start-up measurement")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `bsm` console script."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"bsm {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
