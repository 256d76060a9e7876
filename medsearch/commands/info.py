"""`medsearch info`: what an index holds (model, factories, full-text analysis, counts, facets, disk use)."""

from __future__ import annotations

from pathlib import Path

from medsearch.commands.options import DbOpt, IndexOpt, JsonOpt

TOP_FACET_VALUES = 10
FACET_TITLES = {"modalities": "by modality", "findings": "findings", "body_regions": "body regions",
                "labels": "top labels", "splits": "by split", "licences": "by licence"}


def info_command(index: IndexOpt = Path("index"), json_output: JsonOpt = False, db: DbOpt = None) -> None:
    """Show an index's manifest, item counts, facets (modalities, top labels, licences) and disk sizes."""
    from medsearch.search import open_index

    with open_index(index, db_url=db) as idx:
        info = idx.info()
    if json_output:
        from medsearch.commands import json_output as output

        output.print_json(info)
    else:
        print_info(info)


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def facet_summary(values: dict[str, int], top: int = TOP_FACET_VALUES) -> str:
    """A store facet ({value: item count}, Store.facets) as 'value (count), ...', most frequent first."""
    pairs = sorted(values.items(), key=lambda p: -p[1])
    shown = [f"{name} ({count})" for name, count in pairs[:top]]
    more = len(pairs) - top
    return ", ".join(shown) + (f", … {more} more" if more > 0 else "")


def modality_display(code: str) -> str:
    """"XR (X-ray)" for a canonical code whose display name differs, else the code."""
    from medsearch.archives.modality import modality_label

    label = modality_label(code)
    return code if label == code else f"{code} ({label})"


def label_display(label: str) -> str:
    """"C0032326 (pneumothorax)" for a named concept code, else the label."""
    from medsearch.concepts import is_code, label_name

    name = label_name(label)
    return f"{label} ({name})" if is_code(label) and name != label else label


def analysis_line(info: dict) -> str:
    """The full-text analysis of the index: the stamp when it is this medsearch's, else what differs and the fix."""
    from medsearch.lexical.stamp import AnalysisState

    analysis = info["analysis"]
    state = AnalysisState(analysis["index"], analysis["current"], analysis.get("texts", True))
    if state.current_matches:
        return f"full-text analysis {state.current} (current)"
    return state.warning(info["path"], info["manifest"]["model_name"])


def print_info(info: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    manifest = info["manifest"]
    console = Console()
    console.print(f"[bold]{info['path']}[/bold]")
    console.print(f"model {manifest['model_name']} ({manifest['model_id']}), dim {manifest['dim']}, {manifest['metric']}")
    console.print(f"created {manifest['created']}" + (f", updated {manifest['updated']}" if manifest.get("updated") else ""))
    console.print(f"store {info['db_url']}")
    console.print(analysis_line(info), soft_wrap=True, markup=False, highlight=False)

    vectors = Table("vectors", "factory", "count", "live", "dead", "IVF imbalance", "nprobe", "index file")
    for name, entry in manifest["modalities"].items():
        health = info.get("vectors", {}).get(name, {})
        imbalance = health.get("imbalance")
        vectors.add_row(name, entry["factory"], str(entry["count"]), str(health.get("live", "?")),
                        str(health.get("dead", "?")), "-" if imbalance is None else f"{imbalance:.2f}",
                        str(entry.get("nprobe") or "-"), entry["index_file"])
    console.print(vectors)

    store = Table("store", "value")
    for name, value in info["counts"].items():
        store.add_row(f"{name} (count)", str(value))
    for name, values in info["facets"].items():
        if name == "modalities":
            values = {modality_display(code): n for code, n in values.items()}
        elif name == "labels":
            values = {label_display(label): n for label, n in values.items()}
        store.add_row(FACET_TITLES.get(name, str(name)), facet_summary(values))
    console.print(store)

    disk = Table("file", "size")
    for name, size in info["disk"]["files"].items():
        disk.add_row(name, human_bytes(size))
    disk.add_row("[bold]total[/bold]", human_bytes(info["disk"]["total_bytes"]))
    console.print(disk)
