"""Loop against `fit`, rendering: the summaries of `loop_vs_fit_summary` as Markdown tables."""

from __future__ import annotations

from typing import Any

from mnist_pipeline.evaluation.markdown import table


def points(fraction: float) -> str:
    """An accuracy difference in percentage points, signed."""
    return f"{100 * fraction:+.2f}"


# What each method of `loop_vs_fit_measure` is, in a table.
NAMES = {"fit": "`fit`", "seed": "seed program"}


def headline(summaries: list[dict[str, Any]]) -> str:
    header = ["training images", "train / val / test", "loop against", "seeds", "loop mean", "its mean"]
    header += ["loop − it (points)", "95% interval (points)", "s/epoch loop", "s/epoch it"]
    rows = [
        [
            f"{s['size']:,}",
            " / ".join(f"{s['counts'][split]:,}" for split in ("train", "val", "test")),
            NAMES[s["against"]],
            str(len(s["differences"])),
            f"{s['loop_mean']:.4f}",
            f"{s['other_mean']:.4f}",
            points(s["mean_difference"]),
            f"{points(s['ci95'][0])} to {points(s['ci95'][1])}",
            f"{s['loop_epoch_s']:.2f}",
            f"{s['other_epoch_s']:.2f}",
        ]
        for s in summaries
    ]
    return table(header, rows)


def per_seed(comparisons: list[dict[str, Any]], seeds: list[int]) -> str:
    """Accuracy of each method per seed, then the loop's difference from each."""
    header = ["seed", "loop", *(NAMES[c["against"]] for c in comparisons)]
    header += [f"loop − {NAMES[c['against']]}" for c in comparisons]
    rows = [
        [str(seed), f"{comparisons[0]['loop'][i]:.4f}", *(f"{c['other'][i]:.4f}" for c in comparisons)]
        + [points(c["differences"][i]) for c in comparisons]
        for i, seed in enumerate(seeds)
    ]
    return table(header, rows)


def markdown(info: dict[str, Any], summaries: list[dict[str, Any]]) -> str:
    m = info["machine"]
    lines = [
        "# The training loop against `model.fit`",
        "",
        f"Measured {info['date']} with `python -m benchmarks.loop_vs_fit{info['command_args']}` on {info['dataset']}",
        f"(code {info['code']['commit']}{' with uncommitted changes' if info['code']['uncommitted'] else ''}),",
        f"{info['settings']}. `fit` trains on the same split as the loop; the seed program's",
        "conditions are `fit` on the whole training set (nothing held out). Test accuracy on the",
        "whole test set; differences paired by seed (same initial weights), with a paired t 95%",
        "confidence interval of the mean difference, in percentage points.",
        "",
        headline(summaries),
        "",
    ]
    for size in info["sizes"]:
        comparisons = [s for s in summaries if s["size"] == size]
        lines += [f"## {size:,} training images", "", per_seed(comparisons, info["seeds"]), ""]
    lines += [
        f"Machine: {m['cpu']}, {m['cores_usable']} usable cores (shared), Python {m['python']},",
        f"TensorFlow {m['tensorflow']}, Keras {m['keras']}; {info['elapsed_min']:.1f} min in all.",
    ]
    return "\n".join(lines) + "\n"
