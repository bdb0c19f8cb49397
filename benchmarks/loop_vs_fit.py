"""Does the pipeline's training loop train as well as `model.fit`? Both, on the same model and data, seed by seed.

    python -m benchmarks.loop_vs_fit --data DIR [--seeds 8] [--size 60000 --size 8000]
    python -m benchmarks.loop_vs_fit --render benchmarks/results/loop_vs_fit.json   # re-render a run

DIR holds the four MNIST-format .gz files. For each training-set size (the whole set,
or a stratified subset of it), the params' validation split is held out as prepare does,
then the params' model is trained once per seed with the pipeline's loop, once with `fit`
on the same split, and once with `fit` on the whole training set as the seed program does,
and scored on the whole test set. The table gives the accuracies, the mean paired
difference (loop − each other) and its 95% t interval. Measuring (`loop_vs_fit_measure`),
summarising (`loop_vs_fit_summary`) and rendering (`loop_vs_fit_render`) are separate steps;
the Markdown goes to --out, the raw runs beside it as .json. Not a test: nothing asserts.
"""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path
from typing import Any

import click

from benchmarks.common import ROOT, code_version, detect_dataset, machine, without_local_paths
from benchmarks.loop_vs_fit_render import markdown
from benchmarks.loop_vs_fit_summary import MAX_PAIRS, summarize
from mnist_pipeline import params as params_module
from mnist_pipeline.params import Params


def describe(p: Params, threads: int) -> str:
    t = p.train
    return (
        f"model {t.model} ({t.hidden_units} hidden units, dropout {t.dropout}), batch size {t.batch_size}, "
        f"{t.epochs} epochs, Adam learning rate {t.learning_rate}, validation split {p.data.val_size} "
        f"(seed {p.data.seed}), deterministic {t.deterministic}, {threads} TensorFlow thread(s)"
    )


def measure(
    data: Path, seeds: int, sizes: tuple[int, ...], p: Params, threads: int, command_args: str
) -> dict[str, Any]:
    """Train every run, and describe the run; TensorFlow is imported only here, so --help and --render stay fast."""
    from benchmarks.loop_vs_fit_measure import Settings
    from benchmarks.loop_vs_fit_measure import measure as train_all
    from mnist_pipeline.model.quiet_tensorflow import tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    started = time.perf_counter()
    settings = Settings(data, list(sizes), list(range(1, seeds + 1)))
    runs = train_all(settings, p)
    info = {
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "code": code_version(),
        "dataset": detect_dataset(data),
        "command_args": command_args,
        "settings": describe(p, threads),
        "sizes": settings.sizes,
        "seeds": settings.seeds,
        "elapsed_min": (time.perf_counter() - started) / 60,
    }
    return {"info": info, "runs": runs}


def command_line(data: Path, seeds: int, sizes: tuple[int, ...], p: Params, params_path: str) -> str:
    """The options of this run as the results show them: local folders by their last name only."""
    args = f" --data <{data.name}> --seeds {seeds}" + "".join(f" --size {size}" for size in sizes)
    args += f" --epochs {p.train.epochs}"
    return args if params_path == params_module.DEFAULT_PATH else f"{args} --params <{Path(params_path).name}>"


def write(out: Path, raw: dict[str, Any]) -> None:
    from mnist_pipeline.artifacts import write_text

    info = raw["info"]
    raw["summary"] = summarize(raw["runs"], info["sizes"], info["seeds"])
    text = markdown(info, raw["summary"])
    local = {str(ROOT): "<project>"}
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, without_local_paths(text, local))
    write_text(out.with_suffix(".json"), without_local_paths(json.dumps(raw, indent=2), local) + "\n")
    print(text)


@click.command(help=__doc__)
@click.option(
    "--data", type=click.Path(exists=True, file_okay=False, path_type=Path), help="Folder with the four .gz files."
)
@click.option(
    "--seeds", type=click.IntRange(2, MAX_PAIRS), default=8, show_default=True, help="Seeds 1..N per method and size."
)
@click.option(
    "--size",
    "sizes",
    type=click.IntRange(1),
    multiple=True,
    default=(60_000, 8_000),
    show_default=True,
    help="Training images before the validation split (repeat).",
)
@click.option("--epochs", type=click.IntRange(1), default=None, help="Epochs  [default: train.epochs of --params]")
@click.option(
    "--params",
    "params_path",
    default=params_module.DEFAULT_PATH,
    show_default=True,
    help="Params file (data and train).",
)
@click.option(
    "--threads", type=click.IntRange(1), default=1, show_default=True, help="TensorFlow intra- and inter-op threads."
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=ROOT / "benchmarks/results/loop_vs_fit.md",
    help="Markdown results (JSON beside it).",
)
@click.option(
    "--render",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Only re-render --out from an earlier run's JSON.",
)
def main(
    data: Path | None,
    seeds: int,
    sizes: tuple[int, ...],
    epochs: int | None,
    params_path: str,
    threads: int,
    out: Path,
    render: Path | None,
) -> None:
    if render:
        write(out, json.loads(render.read_text(encoding="utf-8")))
        return
    if data is None:
        raise click.UsageError("--data is required")
    p = params_module.load_params(params_path)
    if epochs:
        p = p.model_copy(update={"train": p.train.model_copy(update={"epochs": epochs})})
    data = data.resolve()
    write(out, measure(data, seeds, sizes, p, threads, command_line(data, seeds, sizes, p, params_path)))


if __name__ == "__main__":
    main()
