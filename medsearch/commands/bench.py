"""`medsearch bench retrieval | zeroshot | phrasing | search`: evaluation figures as a table, a JSON file and,
where one applies, a PNG figure."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, NamedTuple, Optional

import typer

from medsearch.commands.options import BatchSizeOpt, DbOpt, DeviceOpt, IndexOpt, KOpt, ModelOpt

bench_app = typer.Typer(help=("Evaluate a model or an index: retrieval recall, zero-shot classification, phrasing "
                              "robustness, search quality per mode."),
                        no_args_is_help=True)

OutOpt = Annotated[Path, typer.Option("--out", help="folder for the JSON results and the PNG figure")]
SeedOpt = Annotated[int, typer.Option(help="seed for the pool sample and the bootstrap")]
BootOpt = Annotated[int, typer.Option("--bootstrap", min=0, help="bootstrap resamples for the 95% intervals")]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "run"


def _write_json(data: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=float) + "\n")
    return path


def _fmt(value) -> str:
    return "-" if value is None or value != value else f"{value:.3f}"


@bench_app.command("retrieval")
def retrieval_command(
    manifest: Annotated[str, typer.Option(help="archive manifest name (roco, demo, ...) or path to a .toml")],
    root: Annotated[Optional[Path], typer.Option(help="archive root folder (default: the manifest's)")] = None,
    split: Annotated[Optional[str], typer.Option(help="evaluate one split only (train, val, test)")] = None,
    pool: Annotated[Optional[int], typer.Option(min=1, help="sample a fixed pool of N pairs (published ROCO figures use 1000)")] = None,
    query_path: Annotated[str, typer.Option(help="raw: caption embeddings as queries; product: text queries made "
                                                 "the way `medsearch query` makes them (lexicon, template ensemble)")] = "raw",
    no_ensemble: Annotated[bool, typer.Option("--no-ensemble", help="with --query-path product: no prompt templates")] = False,
    no_expand: Annotated[bool, typer.Option("--no-expand", help="with --query-path product: no lexicon expansion")] = False,
    group_by: Annotated[Optional[str], typer.Option(help="item field whose equal values also count as hits (case, pmc_id)")] = None,
    seed: SeedOpt = 0,
    model: ModelOpt = None,
    device: DeviceOpt = "auto",
    batch_size: BatchSizeOpt = 64,
    bootstrap: BootOpt = 1000,
    out: OutOpt = Path("bench-results"),
) -> None:
    """Recall@1/5/10 image->text and text->image with bootstrap 95% CIs; a hit is a retrieved text identical to the query's
    (or of the same --group-by value)."""
    from rich.console import Console
    from rich.table import Table

    from medsearch.archives import open_archive
    from medsearch.eval.plots import recall_curve_png
    from medsearch.eval.retrieval import run_retrieval
    from medsearch.models import load_encoder

    archive = open_archive(manifest, root)
    encoder = load_encoder(model, device=device)
    if query_path not in ("raw", "product"):
        raise typer.BadParameter("choose raw or product", param_hint="--query-path")
    result = run_retrieval(archive, encoder, split=split, pool=pool, seed=seed, batch_size=batch_size, n_boot=bootstrap,
                           query_path=query_path, ensemble=not no_ensemble, expand=not no_expand, group_by=group_by)
    console = Console()
    console.print(f"archive {result['archive']} split {split or 'all'} model {result['model_id']}: "
                  f"pool size {result['pool_size']} pairs ({result['unique_texts']} distinct texts), "
                  f"{len(result['skipped'])} skipped")
    table = Table("direction", *[f"{k} [95% CI]" for k in result["recall"]["image_to_text"]])
    for direction, values in result["recall"].items():
        table.add_row(direction.replace("_", " "),
                      *[f"{_fmt(v['value'])} [{_fmt(v['ci_low'])}, {_fmt(v['ci_high'])}]" for v in values.values()])
    console.print(table)
    path_tag = "" if query_path == "raw" else "_product" + ("-noens" if no_ensemble else "") + ("-noexp" if no_expand else "")
    group_tag = f"_by-{group_by}" if group_by else ""
    stem = _slug(f"retrieval_{result['archive']}_{split or 'all'}_{result['pool_size']}{path_tag}{group_tag}_{result['model_id']}")
    json_path = _write_json(result, out / f"{stem}.json")
    png_path = recall_curve_png(result["curves"], out / f"{stem}.png",
                                f"{result['archive']} {split or 'all'} (pool {result['pool_size']})")
    console.print(f"wrote {json_path} and {png_path}")


def _prompt_overrides(values: list[str] | None) -> dict[str, str]:
    from medsearch.errors import BadQuery

    overrides = {}
    for value in values or []:
        name, sep, phrase = value.partition("=")
        if not sep or not name.strip() or not phrase.strip():
            raise BadQuery(f"--prompt {value!r} is not CLASS=PHRASE", hint="e.g. --prompt 'No Finding=normal chest radiograph'")
        overrides[name.strip()] = phrase.strip()
    return overrides


@bench_app.command("zeroshot")
def zeroshot_command(
    task: Annotated[Optional[str], typer.Option(help="built-in task: nih-normal, nih-findings or roco-modality")] = None,
    manifest: Annotated[Optional[str], typer.Option(help="instead of --task: any archive manifest (name or .toml) ...")] = None,
    label_field: Annotated[Optional[str], typer.Option(help="... and the field whose values are the classes (an extra column, modality, or labels)")] = None,
    prompt: Annotated[Optional[list[str]], typer.Option("--prompt", help="CLASS=PHRASE: the phrase embedded for a class (default: the value, separators as spaces); repeatable")] = None,
    min_class_size: Annotated[int, typer.Option(min=1, help="with --manifest: classes need at least this many images")] = 5,
    root: Annotated[Optional[Path], typer.Option(help="archive root folder (e.g. /data/nih-cxr14-64px)")] = None,
    split: Annotated[str, typer.Option(help="split evaluated")] = "test",
    val_split: Annotated[str, typer.Option(help="split the temperature is fitted on")] = "val",
    templates: Annotated[Optional[str], typer.Option(help="prompt template set (medsearch.prompts); default: the task's")] = None,
    seed: SeedOpt = 0,
    model: ModelOpt = None,
    device: DeviceOpt = "auto",
    batch_size: BatchSizeOpt = 64,
    bootstrap: BootOpt = 1000,
    out: OutOpt = Path("bench-results"),
) -> None:
    """Zero-shot classification: accuracy, per-class/macro AUROC, sensitivity at 95% specificity, ECE, subgroup gaps.

    Either a built-in --task, or --manifest with --label-field (one class per value; an archive without splits
    is evaluated whole, with no temperature fitted)."""
    from rich.console import Console
    from rich.table import Table

    from medsearch.errors import BadQuery
    from medsearch.eval.plots import reliability_png
    from medsearch.eval.zeroshot import get_task, run_manifest_zeroshot, run_zeroshot
    from medsearch.models import load_encoder

    if (task is None) == (manifest is None) or (manifest is not None) != (label_field is not None):
        raise BadQuery("give either --task NAME or --manifest NAME --label-field FIELD",
                       hint="e.g. --task nih-normal, or --manifest covid-chestxray --label-field finding")
    if task is not None:
        get_task(task)  # unknown names fail before the model loads
        if prompt:
            raise BadQuery("--prompt applies to --manifest tasks; a built-in task has its own phrases",
                           hint="see medsearch/eval/zeroshot.py TASKS")
    overrides = _prompt_overrides(prompt)
    encoder = load_encoder(model, device=device)
    if task is not None:
        result = run_zeroshot(task, encoder, root=str(root) if root else None, split=split, val_split=val_split,
                              template_set=templates, batch_size=batch_size, n_boot=bootstrap, seed=seed)
    else:
        result = run_manifest_zeroshot(manifest, label_field, encoder, root=str(root) if root else None,
                                       split=split, val_split=val_split, template_set=templates, prompts=overrides,
                                       min_class_size=min_class_size, batch_size=batch_size,
                                       n_boot=bootstrap, seed=seed)
        task, split = result["task"], result["split"]
    console = Console()
    head = f"{task} on {split} ({result['n']} images, model {result['model_id']}, templates {result['template_set']})"
    if "accuracy" in result:
        head += f": accuracy {_fmt(result['accuracy'])} [{_fmt(result['accuracy_ci'][0])}, {_fmt(result['accuracy_ci'][1])}]"
    console.print(head + f", macro AUROC {_fmt(result['macro_auroc'])}")
    table = Table("class", "n pos", "AUROC [95% CI]", "sens @ 95% spec")
    for name, r in result["per_class"].items():
        table.add_row(name, str(r["n_pos"]), f"{_fmt(r['auroc'])} [{_fmt(r['auroc_ci'][0])}, {_fmt(r['auroc_ci'][1])}]",
                      _fmt(r["sensitivity_at_95_specificity"]))
    console.print(table)
    stem = _slug(f"zeroshot_{task}_{split}_{result['model_id']}")
    if "calibration" in result:
        cal = result["calibration"]
        console.print(f"ECE {_fmt(cal['ece_before'])} -> {_fmt(cal['ece_after'])} after temperature "
                      f"{cal['temperature']:.3f} fitted on {cal['temperature_fitted_on'] or 'nothing (no val items)'}")
        png = reliability_png(cal["reliability_before"], cal["reliability_after"], out / f"{stem}.png", head.split(":")[0])
        console.print(f"reliability diagram: {png}")
    for attribute, sub in (result.get("subgroups") or result.get("subgroups_any_finding_max_score") or {}).items():
        groups = ", ".join(f"{g} {_fmt(v['auroc'])} (n={v['n']})" for g, v in sub["groups"].items())
        console.print(f"subgroup AUROC by {attribute}: {groups}; gap {_fmt(sub['gap'])}")
    console.print(f"wrote {_write_json(result, out / f'{stem}.json')}")


@bench_app.command("phrasing")
def phrasing_command(
    index: IndexOpt,
    groups: Annotated[Optional[Path], typer.Option(help="query groups JSON (default: the shipped phrasing_groups.json)")] = None,
    k: KOpt = 10,
    target: Annotated[str, typer.Option(help="search images or texts")] = "image",
    model: ModelOpt = None,
    device: DeviceOpt = "auto",
    db: DbOpt = None,
    db_url: Annotated[Optional[str], typer.Option("--db-url", hidden=True, help="old name of --db")] = None,
    out: OutOpt = Path("bench-results"),
) -> None:
    """Top-k overlap (Jaccard) and rank agreement between phrasings meaning the same thing, per setting."""
    from rich.console import Console
    from rich.table import Table

    from medsearch.eval.plots import phrasing_png
    from medsearch.eval.robustness import lexicon_gaps, load_groups, run_phrasing
    from medsearch.prompts import default_lexicon
    from medsearch.search import open_index

    query_groups = load_groups(groups)
    with open_index(index, model=model, device=device, db_url=db or db_url) as idx:
        result = run_phrasing(idx, query_groups, k=k, target=target)
        result["model_id"] = idx.manifest.model_id
    result["index"] = str(index)
    result["lexicon_missing_short_forms"] = lexicon_gaps(query_groups, default_lexicon())
    console = Console()
    console.print(f"{result['groups']} query groups, top-{k}, target {target}")
    table = Table("setting", "ensemble", "lexicon", "mean Jaccard", "median Jaccard", "rank agreement", "groups >= 0.9")
    for name, s in result["settings"].items():
        table.add_row(name, str(s["ensemble"]), str(s["expand"]), _fmt(s["mean_jaccard"]), _fmt(s["median_jaccard"]),
                      _fmt(s["mean_rank_agreement"]), f"{s['groups_at_or_above_0.9']}/{result['groups']}")
    console.print(table)
    stem = _slug(f"phrasing_{target}_{result['model_id']}")
    png = phrasing_png(result["settings"], out / f"{stem}.png", f"phrasing robustness, top-{k} ({target})")
    console.print(f"wrote {_write_json(result, out / f'{stem}.json')} and {png}")


class QuerySet(NamedTuple):
    """A judged query set of `bench search`: the target it searches by default, and the index whose labels
    judge it (said when an index gives the set no judged query)."""

    target: str
    judged_by: str


QUERY_SETS = {
    "mesh": QuerySet("text", "an index of IU X-ray reports (--manifest iu-xray), whose MeSH terms judge the reports"),
    "findings": QuerySet("image", "an NIH ChestX-ray14 index, whose finding labels judge the images"),
    "concepts": QuerySet("image", "a ROCO index (--manifest roco), whose UMLS CUIs judge the figures"),
}


@bench_app.command("search")
def search_command(
    index: IndexOpt,
    queries: Annotated[str, typer.Option("--queries", help="judged query set from the index's labels: mesh (IU X-ray), findings (NIH CXR14), concepts (ROCO CUIs)")],
    target: Annotated[Optional[str], typer.Option(help="image or text (default: text for mesh, image otherwise)")] = None,
    captions: Annotated[Optional[Path], typer.Option(help="concepts: the ROCO captions.csv whose train rows phrase the queries")] = None,
    tune: Annotated[bool, typer.Option("--tune/--no-tune", help="also try fusion settings on the tuning half")] = False,
    db: DbOpt = None,
    out: OutOpt = Path("bench-results"),
) -> None:
    """Search quality per mode (dense, lexical, hybrid; with and without negation handling) and query kind
    (plain, abbreviation, lay, negated): P@10, nDCG@10, R@100 on queries judged by the index's own labels."""
    import csv
    import dataclasses
    import os
    import platform
    from collections import Counter

    from rich.console import Console
    from rich.table import Table

    from medsearch.errors import BadArchive, BadQuery, UnknownName
    from medsearch.eval import search_bench as sb
    from medsearch.query.fusion import DEFAULT_FUSION, FusionSettings
    from medsearch.search import open_index

    if queries not in QUERY_SETS:
        raise UnknownName("query set", queries, list(QUERY_SETS))
    target = target or QUERY_SETS[queries].target
    console = Console()
    with open_index(index, db_url=db) as idx:
        sb.cached_embeddings(idx)
        records = sb.all_records(idx, target)
        if queries == "mesh":
            plain = sb.mesh_queries(records)
        elif queries == "findings":
            plain = sb.finding_queries(records)
        else:
            if captions is None:
                raise BadQuery("the concepts set needs --captions (ROCO captions.csv)", hint="its train rows phrase the queries")
            try:
                with open(captions, newline="", encoding="utf-8") as f:
                    train = [(row["caption"], set((row.get("cuis") or "").split(";"))) for row in csv.DictReader(f)
                             if row.get("split") == "train"]
            except (OSError, UnicodeDecodeError, KeyError, csv.Error) as exc:
                reason = f"no {exc} column" if isinstance(exc, KeyError) else str(exc)
                raise BadArchive(f"cannot read --captions {captions}: {reason}",
                                 hint="give ROCO's captions.csv (columns caption, cuis, split)") from None
            plain = sb.concept_queries(records, train)
        judged = sb.expand_kinds(plain, {r.item_id for r in records}, negated=queries != "concepts")
        if not judged:  # nothing to score: an empty table and a JSON of nothing used to exit 0
            raise BadQuery(f"the {queries} set has no judged query on this index ({len(records)} {target} items)",
                           hint=f"{queries} needs {QUERY_SETS[queries].judged_by}")
        console.print(f"{queries}: {len(records)} {target} items, {len(judged)} judged queries "
                      f"({dict(sorted(Counter(q.kind for q in judged).items()))})")
        tuned = None
        if tune:
            grid = [FusionSettings(rrf_k=c, lexical_weight=w) for c in (10.0, 60.0) for w in (0.5, 1.0, 2.0, 4.0)]
            best, trials = sb.tune_fusion(idx, [(judged, target)], grid)
            tuned = {"best": dataclasses.asdict(best), "trials": trials}
            for t in trials:
                console.print(f"  fusion {t['settings']}: tune nDCG@10 {t['tune_ndcg@10']:.3f}")
        rows = sb.run_queries(idx, judged, target)
        summary = sb.summarise(rows)
        model_id = idx.manifest.model_id
    for half in ("test", "all"):
        table = Table("mode", *[f"{kind} P@10/nDCG/R@100" for kind in ("plain", "abbreviation", "lay", "negated", "all")],
                      title=f"{queries} ({target}), {half} queries")
        for config, kinds in summary.items():
            cells = []
            for kind in ("plain", "abbreviation", "lay", "negated", "all"):
                m = kinds.get(kind, {}).get(half)
                cells.append("-" if m is None else f"{m['p@10']:.3f}/{m['ndcg@10']:.3f}/{m['r@100']:.3f}"
                             + (f" a{m['asserting@10']:.2f}" if "asserting@10" in m else "") + f" (n={m['n']})")
            table.add_row(config, *cells)
        console.print(table)
    result = {"set": queries, "target": target, "index": str(index), "model_id": model_id, "items": len(records),
              "fusion": dataclasses.asdict(DEFAULT_FUSION), "tuning": tuned, "summary": summary,
              "machine": {"platform": platform.platform(), "python": platform.python_version(),
                          "cpus": os.cpu_count()},
              "queries": rows}
    path = _write_json(result, out / f"search_{_slug(queries)}_{target}.json")
    console.print(f"wrote {path}")
