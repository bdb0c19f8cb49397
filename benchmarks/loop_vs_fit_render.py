"""Loop against `fit`, rendering: the summaries of `loop_vs_fit_summary` as Markdown tables."""

from __future__ import annotations

from typing import Any

from mnist_pipeline.evaluation.markdown import table


def points(fraction: float) -> str:
    """An accuracy difference in percentage points, signed."""
    return f"{100 * fraction:+.2f}"


def headline(summaries: list[dict[str, Any]]) -> str:
    header = ["training images", "train / val / test", "seeds", "loop mean", "fit mean", "loop − fit (points)"]
    header += ["95% interval (points)", "s/epoch loop", "s/epoch fit"]
    rows = [
        [
            f"{s['size']:,}",
            " / ".join(f"{s['counts'][split]:,}" for split in ("train", "val", "test")),
            str(len(s["differences"])),
            f"{s['loop_mean']:.4f}",
            f"{s['fit_mean']:.4f}",
            points(s["mean_difference"]),
            f"{points(s['ci95'][0])} to {points(s['ci95'][1])}",
            f"{s['loop_epoch_s']:.2f}",
            f"{s['fit_epoch_s']:.2f}",
        ]
        for s in summaries
    ]
    return table(header, rows)


def per_seed(summary: dict[str, Any], seeds: list[int]) -> str:
    rows = [
        [str(seed), f"{loop:.4f}", f"{fit:.4f}", points(loop - fit)]
        for seed, loop, fit in zip(seeds, summary["loop"], summary["fit"])
    ]
    return table(["seed", "loop", "fit", "loop − fit (points)"], rows)


def markdown(info: dict[str, Any], summaries: list[dict[str, Any]]) -> str:
    m = info["machine"]
    lines = [
        "# The training loop against `model.fit`",
        "",
        f"Measured {info['date']} with `python -m benchmarks.loop_vs_fit{info['command_args']}` on {info['dataset']}",
        f"(code {info['code']['commit']}{' with uncommitted changes' if info['code']['uncommitted'] else ''}),",
        f"{info['settings']}. Test accuracy on the whole test set; differences paired by seed,",
        "with a paired t 95% confidence interval of the mean difference.",
        "",
        headline(summaries),
        "",
    ]
    for summary in summaries:
        lines += [f"## {summary['size']:,} training images", "", per_seed(summary, info["seeds"]), ""]
    lines += [
        f"Machine: {m['cpu']}, {m['cores_usable']} usable cores (shared), Python {m['python']},",
        f"TensorFlow {m['tensorflow']}, Keras {m['keras']}; {info['elapsed_min']:.1f} min in all.",
    ]
    return "\n".join(lines) + "\n"
