"""PNG figures for the bench commands (matplotlib, Agg backend, imported only when a figure is drawn)."""

from __future__ import annotations

from pathlib import Path


def _save(fig, plt, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def recall_curve_png(curves: dict[str, list[float]], path: Path, title: str) -> Path:
    """recall@k against k, one line per direction."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for direction, values in curves.items():
        ax.plot(range(1, len(values) + 1), values, label=direction.replace("_", " "))
    ax.set_xlabel("k")
    ax.set_ylabel("recall@k")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, plt, path)


def reliability_png(before: list[dict], after: list[dict], path: Path, title: str) -> Path:
    """Reliability diagram: accuracy against mean confidence per bin, before and after temperature scaling."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    for bins, label, marker in ((before, "before (T=1)", "o"), (after, "after temperature scaling", "s")):
        points = [(b["confidence"], b["accuracy"], b["count"]) for b in bins if b["count"]]
        if points:
            conf, acc, counts = zip(*points)
            ax.plot(conf, acc, marker=marker, label=label)
    ax.set_xlabel("mean confidence")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(loc="upper left")
    return _save(fig, plt, path)


def phrasing_png(settings: dict[str, dict], path: Path, title: str) -> Path:
    """Mean top-10 Jaccard and rank agreement per setting (e.g. plain vs ensemble+lexicon)."""
    plt = _pyplot()
    names = list(settings)
    jac = [settings[n]["mean_jaccard"] for n in names]
    agree = [settings[n]["mean_rank_agreement"] for n in names]
    x = range(len(names))
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.bar([i - 0.2 for i in x], jac, width=0.4, label="top-10 Jaccard")
    ax.bar([i + 0.2 for i in x], agree, width=0.4, label="rank agreement (average overlap)")
    ax.axhline(0.9, color="k", ls="--", lw=1, label="target 0.9")
    ax.set_xticks(list(x))
    ax.set_xticklabels(names, rotation=15)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, plt, path)
