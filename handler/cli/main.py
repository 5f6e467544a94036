"""The `bsm` command: train models, run batch transforms, serve locally."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from handler.errors import ArtifactError, ConfigError
from handler.serving.engines import DEFAULT_ENGINE, ENGINES


def cmd_train(args: argparse.Namespace) -> int:
    """Fit and train on local CSVs, or on SageMaker's training layout."""
    from handler.model import artifacts
    from handler.training.encoders import encoder_source
    from handler.training.trainer import TrainConfig, read_table, train

    if args.sagemaker:
        from handler.serving.sagemaker.environment import TrainingLayout

        layout = TrainingLayout.from_sources()
        hyper_file = layout.hyperparameters_file()
        try:
            values = json.loads(hyper_file.read_text()) if hyper_file.exists() else {}
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{hyper_file} is not valid JSON: {exc}") from None
        encoder = values.pop("encoder", args.encoder)
        test_dir = layout.channel("test")
        train_path, test_path, out = (
            layout.channel("train"),
            test_dir if test_dir.exists() else None,
            layout.model_out(),
        )
        source = str(hyper_file)
    else:
        if args.train is None or args.out is None:
            raise ConfigError("--train and --out are required (or --sagemaker)")
        encoder, train_path, test_path, out = args.encoder, args.train, args.test, args.out
        values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
        source = "the options"
    config = TrainConfig.from_options(values, source)
    evaluation = read_table(test_path) if test_path else None
    predictor = train(read_table(train_path), config, encoder_source(encoder), evaluation, progress=not args.quiet)
    artifacts.save(out, predictor.model.state_dict(), predictor.artifacts)
    print(f"model written to {out}: {json.dumps(predictor.artifacts.metrics)}")
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    """What a model directory holds, as JSON; with --folders, only the model folders its text steps read."""
    from handler.model.artifacts import load_artifacts

    loaded = load_artifacts(args.model_dir, attach=False)
    pipeline = loaded.pipeline
    if args.folders:
        print("\n".join(pipeline.folders()))
        return 0
    summary = {
        "columns": loaded.schema.to_dict()["columns"],
        "labels": loaded.labels,
        "text_steps": {name: [p.name for p in steps] for name, steps in pipeline.text.items()},
        "derived_features": {name: f.source for name, f in pipeline.derived.items()},
        "folders": pipeline.folders(),
        "metrics": loaded.metrics,
        "provenance": loaded.provenance,
    }
    print(json.dumps(summary, indent=1, default=str))
    return 0


def cmd_optimize(args: argparse.Namespace) -> int:
    """Write the encoder's NNCF int8 OpenVINO IR into a model directory if it keeps fp32's labels."""
    from handler.model.artifacts import load_artifacts
    from handler.training.optimize import optimize
    from handler.training.trainer import read_table

    columns = load_artifacts(args.model_dir, attach=False).schema.names

    def rows(path: Path, count: int) -> list[dict[str, Any]]:
        frame = read_table(path)
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ConfigError(f"{path} lacks the model's columns {missing}; it has {list(frame.columns)}")
        return frame[columns].sample(frac=1.0, random_state=0).head(count).to_dict("records")

    report = optimize(
        args.model_dir,
        rows(args.data, args.calibration_rows),
        rows(args.validation, args.validation_rows),
        args.min_agreement,
    )
    verdict = "written" if report.accepted else f"not written (below {report.min_agreement:.1%})"
    print(
        f"{args.model_dir}/openvino/encoder-int8.xml {verdict}: "
        f"{report.agreement:.2%} of {report.validation_rows} validation rows keep fp32's label, {report.seconds} s"
    )
    return 0


def cmd_torchserve(args: argparse.Namespace) -> int:
    """TorchServe in the foreground with a config.properties and archives from a model store."""
    from handler.serving.torchserve.properties import client_url, read_properties
    from handler.serving.torchserve.supervisor import TorchServe, serve_foreground

    args.workdir.mkdir(parents=True, exist_ok=True)
    properties = read_properties(args.config)
    server = TorchServe(
        workdir=args.workdir,
        model_store=args.model_store,
        config=args.config,
        models=args.model,
        inference_url=client_url(properties.get("inference_address", "http://127.0.0.1:8080")),
        management_url=client_url(properties.get("management_address", "http://127.0.0.1:8081")),
        plugins=args.plugins,
    )
    return serve_foreground(server, args.sample)


def cmd_serve(args: argparse.Namespace) -> int:
    """One model directory on an engine, in the foreground, as the container's `serve` runs it."""
    from handler import variables
    from handler.cli.container import run_engine
    from handler.inference.resources import cpu_count
    from handler.serving.sagemaker.environment import hosting_settings

    model_dir = args.model_dir.resolve()
    env = {**os.environ, variables.BIND_TO_PORT: str(args.port)}
    if args.workers is not None:
        env[variables.MODEL_SERVER_WORKERS] = str(args.workers)
    settings = hosting_settings(env, cpu_count())
    settings = dataclasses.replace(settings, base_dir=model_dir.parent, model_name=model_dir.name, multi_model=False)
    return run_engine(args.engine, settings, os.environ)


def cmd_settings(args: argparse.Namespace) -> int:
    """Every setting with its variable, default, allowed values and meaning; or the docs' tables refreshed."""
    from handler.cli import settings

    return settings.run(args.format, args.write)


def cmd_transform(args: argparse.Namespace) -> int:
    """Batch transform files as SageMaker does, against an endpoint or in process."""
    from handler.serving.sagemaker import batch_transform as t

    if sum(x is not None for x in (args.endpoint, args.in_process, args.ray)) != 1:
        raise ConfigError("give exactly one of --endpoint URL, --in-process MODEL_DIR and --ray MODEL_DIR")
    if any(":" not in h for h in args.header):
        raise ConfigError(f"--header takes 'Name: value', got {[h for h in args.header if ':' not in h]}")
    headers = {name.strip(): value.strip() for name, value in (h.split(":", 1) for h in args.header)}
    args.output.mkdir(parents=True, exist_ok=True)
    if args.ray is not None:
        return transform_on_ray(args, headers)
    service = t.in_process_service(args.in_process) if args.in_process else None  # load the model once
    failed = []
    for path in t.input_files(args.input):
        content_type = args.content_type or t.CONTENT_TYPES.get(path.suffix, "text/csv")
        accept = args.accept or content_type
        send = (
            t.in_process_sender(service, content_type, accept, headers)
            if service is not None
            else t.HttpSender(args.endpoint, content_type, accept, headers, retries=args.retries)
        )
        try:
            rows = t.transform_file(
                path,
                args.output,
                send,
                content_type,
                int(args.max_payload_mb * 1024 * 1024),
                args.concurrency,
                args.join_input,
                progress=not args.quiet,
            )
            print(f"{path.name}: {rows} records -> {args.output / (path.name + '.out')}")
        except t.TransformError as exc:
            print(f"{path.name}: failed, no output written: {exc}", file=sys.stderr)
            failed.append(path.name)
    return 1 if failed else 0


def transform_on_ray(args: argparse.Namespace, headers: dict[str, str]) -> int:
    """`bsm transform --ray`: each file's records scored on Ray Data by a pool of actors, one model each."""
    from handler.inference.resources import cpu_count, default_workers, share_of_cores
    from handler.inference.settings import ServingSettings
    from handler.model import check_model_files
    from handler.serving.ray import data
    from handler.serving.ray.host import RaySettings, start_ray, stop_ray
    from handler.serving.sagemaker import batch_transform as t

    check_model_files(args.ray)
    cores = cpu_count()
    actors = args.actors or default_workers(cores)
    ray_settings = RaySettings.from_sources(env=os.environ)
    started = start_ray(ray_settings, cores)
    failed = []
    try:
        for path in t.input_files(args.input):
            content_type = args.content_type or t.CONTENT_TYPES.get(path.suffix, "text/csv")
            sent = {**headers, "Content-Type": content_type, "Accept": args.accept or content_type}
            job = data.Job(args.ray.resolve(), ServingSettings.offline(), sent, share_of_cores(cores, actors))
            records = t.records_of(path.read_bytes())
            try:
                outputs = data.score_records(records, job, actors, args.rows_per_batch, progress=not args.quiet)
            except data.ScoringError as exc:
                print(f"{path.name}: failed, no output written: {exc}", file=sys.stderr)
                failed.append(path.name)
                continue
            target = t.write_output(path, args.output, records, outputs, content_type, args.join_input)
            print(f"{path.name}: {len(records)} records -> {target}")
    finally:
        stop_ray(started)
    return 1 if failed else 0


def _text_steps() -> str:
    """The registered text steps with the first line of their docstrings, for `bsm train --help`."""
    from handler.features import PROCESSORS, LanguageId
    from handler.features.text import TextProcessor
    from handler.model.text_steps import ModelStep

    def line(name: str) -> str:
        return f"  {name:14} {(PROCESSORS.get(name).__doc__ or '').strip().splitlines()[0]}"

    steps = [n for n in PROCESSORS if issubclass(PROCESSORS.get(n), (TextProcessor, ModelStep))]
    return "\n".join(
        [
            'text steps (--text-steps, in order; a JSON list may give {"name": ..., "config": {...}} specs):',
            *map(line, steps),
            "translate reads --translation-model (a seq2seq folder), mask_names --entity-model (a NER folder);",
            "both are copied into the model directory. --language-features COLUMNS adds each column's language:",
            line(LanguageId.name),
        ]
    )


def _train_options(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field, as text, helped by its doc: TrainConfig.from_options converts them all."""
    from handler.training.trainer import TrainConfig

    for row in TrainConfig.described():
        text = f"{row.doc} ({row.default})".replace("%", "%%")  # argparse formats help with %
        parser.add_argument("--" + row.name.replace("_", "-"), dest=row.name, default=None, help=text)


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
        epilog=_text_steps(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("--train", type=Path, help="training CSV file or folder of CSV files")
    train.add_argument("--test", type=Path, help="held-out CSV for the reported accuracy")
    train.add_argument("--out", type=Path, help="output model directory")
    train.add_argument(
        "--encoder",
        default="minilm",
        help="'minilm' (bundled all-MiniLM-L6-v2, the 'train' extra), 'tiny' (small random BERT), "
        "or a Hugging Face model folder",
    )
    train.add_argument("--sagemaker", action="store_true", help="use SageMaker's /opt/ml layout")
    _train_options(train)
    train.set_defaults(func=cmd_train)

    transform = sub.add_parser(
        "transform",
        help="batch transform files as SageMaker does (Line split, MultiRecord)",
        description="Split CSV or JSON Lines files by line into MultiRecord payloads, send them to an "
        "endpoint (or predict in process), and write <file>.out with one line per record, in order.",
    )
    transform.add_argument("input", type=Path, help="a file, or a folder of .csv/.jsonl files")
    transform.add_argument("output", type=Path, help="folder for the .out files")
    transform.add_argument("--endpoint", help="URL to POST to, e.g. http://localhost:8080/invocations")
    transform.add_argument("--in-process", type=Path, metavar="MODEL_DIR", help="predict without a server")
    transform.add_argument(
        "--ray", type=Path, metavar="MODEL_DIR", help="score on Ray Data: a pool of actors, one model each"
    )
    transform.add_argument("--actors", type=int, help="--ray: actors (default: one per 2 cores)")
    transform.add_argument("--rows-per-batch", type=int, default=256, help="--ray: records per actor call")
    transform.add_argument("--content-type", help="default: from the file extension")
    transform.add_argument("--accept", help="default: the content type")
    transform.add_argument("--max-payload-mb", type=float, default=6.0, help="default: 6 (SageMaker's default)")
    transform.add_argument("--concurrency", type=int, default=4, help="requests in flight (default: 4)")
    transform.add_argument("--retries", type=int, default=3, help="retries of 429/5xx/connection errors")
    transform.add_argument("--join-input", action="store_true", help="JoinSource=Input: input line, then output")
    transform.add_argument("--header", action="append", default=[], help="extra 'Name: value' header")
    transform.set_defaults(func=cmd_transform)

    optimize = sub.add_parser(
        "optimize",
        help="quantize the encoder ahead of time: NNCF static int8 OpenVINO IR in the model directory",
        description="Convert the model's text encoder to OpenVINO and quantize it to static int8 with NNCF "
        "(MODEL_DIR/openvino/encoder-int8.xml, with a JSON card), calibrated on training rows "
        "and validation rows. NNCF's accuracy control keeps layers in float until the int8 labels agree "
        "with fp32 on --min-agreement of the validation rows; below it, no int8 file is written. "
        "Execution auto then serves int8 on CPUs with VNNI or AMX. Needs the 'optimize' extra (nncf).",
    )
    optimize.add_argument("model_dir", type=Path, help="the model directory (model.pth + model_artifacts.pth)")
    optimize.add_argument("--data", type=Path, required=True, help="training CSV file or folder: calibration rows")
    optimize.add_argument(
        "--validation",
        type=Path,
        required=True,
        help="CSV the model was not trained on (a validation split, not the test split you report)",
    )
    optimize.add_argument("--calibration-rows", type=int, default=300, help="default: 300")
    optimize.add_argument("--validation-rows", type=int, default=600, help="default: 600")
    optimize.add_argument("--min-agreement", type=float, default=0.995, help="default: 0.995")
    optimize.set_defaults(func=cmd_optimize)

    describe = sub.add_parser(
        "describe",
        help="print what a model directory holds: columns, labels, text steps, model folders, metrics",
    )
    describe.add_argument("model_dir", type=Path, help="the model directory")
    describe.add_argument("--folders", action="store_true", help="only the model folders its text steps read")
    describe.set_defaults(func=cmd_describe)

    serve = sub.add_parser(
        "serve",
        help="serve a model directory on :8080 with SageMaker's routes, on TorchServe or Ray Serve",
        description="Serve one model directory (model.pth + model_artifacts.pth) in the foreground, as the "
        "container's `bsm-container serve` does: /ping, /invocations, /execution-parameters. It reads the same "
        "SAGEMAKER_* and BSM_* variables (BSM_RAY_* for Ray). Ctrl-C stops it.",
    )
    serve.add_argument("--engine", choices=list(ENGINES), default=DEFAULT_ENGINE)
    serve.add_argument("--model-dir", type=Path, required=True, help="the model directory")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, help="workers (TorchServe) or replicas (Ray); default: one per 2 cores")
    serve.set_defaults(func=cmd_serve)

    listing = sub.add_parser(
        "settings", help="list every setting: its variable, default, allowed values and meaning, concern by concern"
    )
    listing.add_argument("--format", choices=["text", "markdown"], default="text", help="markdown: the README's tables")
    listing.add_argument(
        "--write",
        type=Path,
        nargs="+",
        default=[],
        metavar="DOC",
        help="refresh the tables between each document's GENERATED: settings markers (README.md docs/configuration.md)",
    )
    listing.set_defaults(func=cmd_settings)

    local = sub.add_parser(
        "torchserve",
        help="run TorchServe itself in the foreground: config.properties and .mar archives from a model store",
    )
    local.add_argument("--model", action="append", required=True, help="NAME=ARCHIVE.mar in the model store")
    local.add_argument("--model-store", type=Path, default=Path("model_store"))
    local.add_argument("--config", type=Path, default=Path("config.properties"))
    local.add_argument(
        "--workdir",
        type=Path,
        default=Path("build/torchserve"),
        help="TorchServe's working directory: logs and key_file.json (the tokens)",
    )
    local.add_argument("--sample", type=Path, help="a CSV request body for the printed curl")
    local.add_argument("--plugins", type=Path, help="folder of bsm-plugins.jar (a /ping that means ready)")
    local.set_defaults(func=cmd_torchserve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `bsm` console script: a usage error exits 2 with one line; a bug shows its traceback."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    func: Any = args.func
    try:
        return int(func(args))
    except (ConfigError, ArtifactError, FileNotFoundError) as exc:
        print(f"bsm {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
