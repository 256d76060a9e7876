"""Teaching-file evaluation: retrieval-based drafts and diverse results (figures in benchmarks/README.md).

    python benchmarks/teaching_eval.py medpix --index IDX_MEDPIX --out benchmarks/results
    python benchmarks/teaching_eval.py iu --index IDX_IU --out benchmarks/results

medpix: IDX_MEDPIX holds the whole MedPix archive (`medsearch index --manifest medpix`); every dev ("val") image
is a query against the train cases only (filter split=train), with its stored image vector (what
`medsearch draft` computes for that file). Reported: how often the true diagnosis is the first cited case's
(top-1) or among the cited cases' (top-5), against the chance baseline of drawing train cases at random; the
same for the organ system (first number of the ACR code); the refusal threshold (nearest-other-case quantile on
the train images, as `calibrate.py` does on an index) with refusal rates on dev and on out-of-domain images (NIH
chest X-rays, ROCO X-ray/ultrasound figures); distinct cases in the top 10, plain vs diverse.

iu: IDX_IU holds IU X-ray reports as text-only items (no images here) with their R2Gen split; each R2Gen test
report's indication (its "other text") is the query, text->text, against train reports; the draft cites the
retrieved reports; MeSH/Problems label overlap between the cited reports and the held-out report (micro P/R/F1)
against random train reports and the all-"normal" answer. Text->text from the indication is an honest stand-in
for image->text: the images are not available here.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from medsearch.search import open_index  # noqa: E402
from medsearch.store.filters import Filters  # noqa: E402
from medsearch.teaching.calibrate import nearest_other_case, stored_matrix  # noqa: E402
from medsearch.teaching.cases import search_cases  # noqa: E402
from medsearch.teaching.diagnosis import same_diagnosis  # noqa: E402
from medsearch.teaching.diverse import diverse, diverse_text  # noqa: E402
from medsearch.teaching.draft import compose  # noqa: E402
from medsearch.teaching.groups import case_key, group_key  # noqa: E402
from medsearch.teaching.sentences import split_sentences  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
QUANTILES = (0.01, 0.05, 0.1, 0.2)
TOP = 5


def p_at_least_one(n: int, m: int, draws: int) -> float:
    """Chance that ``draws`` cases drawn without replacement from n include one of m."""
    if m <= 0:
        return 0.0
    if n - m < draws:
        return 1.0
    return 1.0 - math.comb(n - m, draws) / math.comb(n, draws)


def wilson(successes: float, n: int, z: float = 1.96) -> list[float]:
    if n == 0:
        return [0.0, 0.0]
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(centre - half, 3), round(centre + half, 3)]


def organ(labels) -> str | None:
    codes = [label[4:] for label in labels or [] if label.startswith("acr:")]
    return codes[0].split(".")[0] if codes else None


def all_records(idx, target: str):
    vectors, base = stored_matrix(idx, target)
    records = idx.store.records(target, list(range(base, base + len(vectors))))
    return vectors, base, records


def medpix(args) -> dict:
    idx = open_index(args.index)
    vectors, base, records = all_records(idx, "image")
    train = Filters(split="train")
    rows = sorted(records)
    split_of = {vid: records[vid].split for vid in rows}
    train_rows = [vid for vid in rows if split_of[vid] == "train"]
    dev_rows = [vid for vid in rows if split_of[vid] == "val"]
    cases = idx.store.cases({case_key(records[v]) for v in rows})
    train_cases = {k: c for k, c in cases.items() if c.split == "train"}

    # refusal threshold from the train images alone (no dev leakage): nearest other case, low quantile
    train_matrix = np.asarray(vectors[[v - base for v in train_rows]], dtype=np.float32)
    nearest = nearest_other_case(train_matrix, [case_key(records[v]) for v in train_rows], np.arange(len(train_rows)))
    thresholds = {q: float(np.quantile(nearest, q)) for q in QUANTILES}
    threshold = thresholds[0.05]

    per_query = []
    started = time.perf_counter()
    for vid in dev_rows:
        record = records[vid]
        truth = cases.get(case_key(record))
        query = np.asarray(vectors[vid - base], dtype=np.float32)
        hits = search_cases(idx, query, target="image", k=TOP, filters=train, images_per_case=2)
        close = [h for h in hits if h.item_score is not None and h.item_score >= threshold]
        findings, impression, citations = compose(close)
        cited = [h.diagnosis for h in close]
        n, m = len(train_cases), sum(same_diagnosis(truth.diagnosis, c.diagnosis) for c in train_cases.values())
        n_org = sum(organ(c.labels) == organ(truth.labels) for c in train_cases.values()) if organ(truth.labels) else 0
        verbatim = all(any(s.text in (h.sections.get("findings") or "") for h in close if True) for s in findings)
        per_query.append({
            "item": record.key, "case": record.case, "diagnosis": truth.diagnosis,
            "best": hits[0].item_score if hits else None, "refused": not close,
            "retrieved_top1": bool(hits) and same_diagnosis(truth.diagnosis, hits[0].diagnosis),
            "retrieved_top5": any(same_diagnosis(truth.diagnosis, h.diagnosis) for h in hits),
            "cited_top1": bool(cited) and same_diagnosis(truth.diagnosis, cited[0]),
            "cited_top5": any(same_diagnosis(truth.diagnosis, d) for d in cited),
            "organ_top1": bool(hits) and organ(hits[0].labels) == organ(truth.labels) is not None,
            "organ_top5": any(organ(h.labels) == organ(truth.labels) for h in hits) and organ(truth.labels) is not None,
            "chance_top1": m / n, "chance_top5": p_at_least_one(n, m, TOP),
            "organ_chance_top1": n_org / n, "organ_chance_top5": p_at_least_one(n, n_org, TOP),
            "sentences": len(findings), "negated_sentences": sum(s.assertion != "asserted" for s in findings),
            "verbatim": verbatim, "train_cases_with_same_diagnosis": m,
        })
    seconds = time.perf_counter() - started
    q = len(per_query)

    def rate(key):
        hits_ = sum(r[key] for r in per_query)
        return {"rate": round(hits_ / q, 3), "ci95": wilson(hits_, q)}

    def mean(key):
        return round(float(np.mean([r[key] for r in per_query])), 4)

    # refusal on dev and on out-of-domain images at each quantile
    best_dev = np.array([r["best"] for r in per_query], dtype=np.float32)
    ood = out_of_domain_best(idx, train, args.ood)
    refusal = {str(qt): {"threshold": round(t, 4), "dev_refused": round(float(np.mean(best_dev < t)), 3),
                         **{f"{name}_refused": round(float(np.mean(np.array(v) < t)), 3) for name, v in ood.items()}}
               for qt, t in thresholds.items()}

    return {
        "archive": "medpix", "model": idx.manifest.model_id, "queries": q, "dev_cases": len({r["case"] for r in per_query}),
        "train_cases": len(train_cases), "cases_per_draft": TOP, "threshold_quantile": 0.05, "threshold": round(threshold, 4),
        "diagnosis": {"retrieved_top1": rate("retrieved_top1"), "retrieved_top5": rate("retrieved_top5"),
                      "cited_top1": rate("cited_top1"), "cited_top5": rate("cited_top5"),
                      "chance_top1": mean("chance_top1"), "chance_top5": mean("chance_top5"),
                      "queries_whose_diagnosis_has_a_train_case": sum(r["train_cases_with_same_diagnosis"] > 0 for r in per_query),
                      "among_those": {name: round(sum(r[name] for r in per_query if r["train_cases_with_same_diagnosis"])
                                                  / max(1, sum(r["train_cases_with_same_diagnosis"] > 0 for r in per_query)), 3)
                                      for name in ("retrieved_top1", "retrieved_top5", "chance_top1", "chance_top5")}},
        "organ_system": {"top1": rate("organ_top1"), "top5": rate("organ_top5"),
                         "chance_top1": mean("organ_chance_top1"), "chance_top5": mean("organ_chance_top5")},
        "drafts": {"refused": rate("refused"), "mean_sentences": mean("sentences"),
                   "mean_non_asserted_sentences": mean("negated_sentences"), "all_sentences_verbatim": all(r["verbatim"] for r in per_query)},
        "refusal_by_quantile": refusal,
        "diversity": diversity(idx, records, cases, dev_rows, vectors, base),
        "seconds": round(seconds, 1), "per_query": per_query,
    }


def out_of_domain_best(idx, filters, n: int) -> dict[str, list[float]]:
    """Best train-image similarity of images MedPix does not cover: NIH chest X-rays, ROCO X-ray/US figures."""
    import csv

    rng = random.Random(0)
    found: dict[str, list[float]] = {}
    nih = SHARED / "nih-cxr14-64px"
    rows = list(csv.DictReader(open(nih / "labels.csv", encoding="utf-8")))
    paths = [nih / r["image"] for r in rng.sample(rows, min(n, len(rows)))]
    roco = SHARED / "roco"
    from medsearch.archives.modality import guess_modality

    rrows = [r for r in csv.DictReader(open(roco / "captions.csv", encoding="utf-8"))
             if guess_modality(r["caption"]) in ("X-ray", "ultrasound", "XR", "US")]
    rpaths = [roco / r["image"] for r in rng.sample(rrows, min(n, len(rrows)))]
    for name, group in (("nih_cxr", paths), ("roco_xray_us", rpaths)):
        best = []
        for path in group:
            try:
                vector = idx.embed_image(path)
            except Exception as exc:  # noqa: BLE001 - a benchmark skips an unreadable file and says so
                print(f"skip {path}: {exc}", file=sys.stderr)
                continue
            hits = idx.search_vector(vector, k=1, target="image", filters=filters)
            best.append(hits[0].score if hits else -1.0)
        found[name] = best
    return found


def diversity(idx, records, cases, dev_rows, vectors, base) -> dict:
    """Distinct cases (and distinct cases of the right diagnosis) in the top 10: plain ranking vs diverse."""
    out = {}
    queries = {}
    for vid in dev_rows:  # one image query per dev case
        key = case_key(records[vid])
        queries.setdefault(key, np.asarray(vectors[vid - base], dtype=np.float32))
    train = Filters(split="train")
    rows = {"plain": [], "diverse": []}
    for key, vector in queries.items():
        truth = cases.get(key)
        plain = idx.search_vector(vector, k=10, target="image", filters=train)
        spread = diverse(idx, vector, k=10, target="image", filters=train)
        for name, hits in (("plain", plain), ("diverse", spread)):
            groups = [group_key(h) for h in hits]
            hit_cases = cases_of(hits, cases)
            right = {g for g, c in zip(groups, hit_cases) if c is not None and same_diagnosis(truth.diagnosis, c.diagnosis)}
            rows[name].append((len(set(groups)), len(right)))
    for name, values in rows.items():
        out[f"image_{name}"] = {"distinct_cases_top10": round(float(np.mean([v[0] for v in values])), 2),
                                "distinct_right_diagnosis_cases_top10": round(float(np.mean([v[1] for v in values])), 3)}
    text_rows = {"plain": [], "diverse": []}
    for key in queries:
        truth = cases.get(key)
        query = truth.diagnosis
        plain = idx.search_text(query, k=10, target="image", filters=train)
        spread = diverse_text(idx, query, k=10, target="image", filters=train)
        for name, hits in (("plain", plain), ("diverse", spread)):
            groups = [group_key(h) for h in hits]
            hit_cases = cases_of(hits, cases)
            right = {g for g, c in zip(groups, hit_cases) if c is not None and same_diagnosis(query, c.diagnosis)}
            text_rows[name].append((len(set(groups)), len(right)))
    for name, values in text_rows.items():
        out[f"text_{name}"] = {"distinct_cases_top10": round(float(np.mean([v[0] for v in values])), 2),
                               "distinct_right_diagnosis_cases_top10": round(float(np.mean([v[1] for v in values])), 3)}
    out["queries"] = len(queries)
    return out


def cases_of(hits, cases):
    return [cases.get(case_key(h)) for h in hits]


# -- IU X-ray ----------------------------------------------------------------------------------------------------

def iu(args) -> dict:
    import csv

    idx = open_index(args.index)
    _, base, records = all_records(idx, "text")
    by_key = {r.key: r for r in records.values()}
    reports = {row["uid"]: row for row in csv.DictReader(open(SHARED / "iu-xray-reports" / "indiana_reports.csv", encoding="utf-8"))}
    train = Filters(split="train")
    test_keys = sorted(k for k, r in by_key.items() if r.split == "test")
    train_records = [r for r in by_key.values() if r.split == "train"]
    train_texts = {" ".join((r.text or "").split()) for r in train_records}
    rng = random.Random(0)
    if args.limit:
        test_keys = rng.sample(test_keys, min(args.limit, len(test_keys)))
    totals = {name: [0, 0, 0] for name in ("draft", "nearest_cited_report", "random", "normal")}  # tp, predicted, true
    per_query, refused, duplicates = [], 0, 0
    # the refusal threshold for this kind of query (an indication, not a report) is chosen on the val split:
    # the 5th percentile of the best train-report similarity of val indications
    val_best = []
    for key in sorted(k for k, r in by_key.items() if r.split == "val"):
        hits = idx.search_vector(idx.embed_text(query_of(reports.get(key, {})), target="text"), k=1, target="text",
                                 filters=train)
        val_best.append(hits[0].score if hits else -1.0)
    threshold = float(np.quantile(val_best, 0.05))
    for key in test_keys:
        record = by_key[key]
        row = reports.get(key, {})
        query = query_of(row)
        truth = labels_of(record.labels)
        duplicate = " ".join((record.text or "").split()) in train_texts
        duplicates += duplicate
        vector = idx.embed_text(query, target="text")
        hits = search_cases(idx, vector, target="text", k=TOP, filters=train, images_per_case=1)
        close = [h for h in hits if h.item_score is not None and h.item_score >= threshold]
        if not close:
            refused += 1
        findings, impression, citations = compose(close)
        used = {s.citation for s in findings + impression}
        predicted = set().union(*(labels_of(close[n - 1].items[0].labels if close[n - 1].items else []) for n in used)) if used else set()
        random_pick = rng.sample(train_records, len(used) or 1)
        random_pred = set().union(*(labels_of(r.labels) for r in random_pick))
        nearest_pred = labels_of(close[0].items[0].labels) if close and close[0].items else set()
        for name, pred in (("draft", predicted), ("nearest_cited_report", nearest_pred), ("random", random_pred),
                           ("normal", {"normal"})):
            totals[name][0] += len(pred & truth)
            totals[name][1] += len(pred)
            totals[name][2] += len(truth)
        per_query.append({"uid": key, "query": query, "truth": sorted(truth), "draft_labels": sorted(predicted),
                          "duplicate_of_a_train_report": duplicate, "sentences": len(findings)})
    scores = {}
    for name, (tp, pred, true) in totals.items():
        p = tp / pred if pred else 0.0
        r = tp / true if true else 0.0
        scores[name] = {"precision": round(p, 3), "recall": round(r, 3), "f1": round(2 * p * r / (p + r) if p + r else 0.0, 3)}
    dup_rows = [q for q in per_query if q["duplicate_of_a_train_report"]]
    fresh = [q for q in per_query if not q["duplicate_of_a_train_report"]]
    tp = sum(len(set(q["truth"]) & set(q["draft_labels"])) for q in fresh)
    pred, true = sum(len(q["draft_labels"]) for q in fresh), sum(len(q["truth"]) for q in fresh)
    p, r = (tp / pred if pred else 0.0), (tp / true if true else 0.0)
    scores["draft_on_reports_not_copied_from_train"] = {"precision": round(p, 3), "recall": round(r, 3),
                                                        "f1": round(2 * p * r / (p + r) if p + r else 0.0, 3),
                                                        "queries": len(fresh)}
    return {"archive": "iu-xray (text only)", "model": idx.manifest.model_id, "queries": len(per_query),
            "query_text": "indication + comparison of the held-out report", "retrieved": "train reports (R2Gen split)",
            "threshold": round(threshold, 4), "threshold_chosen_on": "val indications (5th percentile of best similarity)",
            "refused": refused,
            "held_out_reports_identical_to_a_train_report": len(dup_rows), "micro_label_overlap": scores,
            "per_query": per_query}


def query_of(row: dict) -> str:
    return " ".join(x for x in (row.get("indication"), row.get("comparison")) if x and x.strip()) or "chest"


def labels_of(labels) -> set[str]:
    """MeSH / Problems terms, lower-cased, qualifiers after '/' dropped ("Opacity/lung/base/left" -> "opacity")."""
    return {label.split("/")[0].strip().lower() for label in labels or [] if label.strip()}


def iu_archive(args) -> None:
    """Write OUT/indiana_reports.csv (the shared reports plus a `split` column from annotation_r2gen.json) and
    OUT/iu.toml (the built-in iu-xray manifest with `split = "split"`), ready for `medsearch index`."""
    import csv
    import re

    src = SHARED / "iu-xray-reports"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    annotation = json.loads((src / "annotation_r2gen.json").read_text("utf-8"))
    split = {}
    for key, entries in annotation.items():
        for entry in entries:
            match = re.match(r"CXR(\d+)_", entry["id"])
            if match:
                split[match.group(1)] = entry.get("split") or ("test" if not key.strip() else key)
    rows = list(csv.DictReader(open(src / "indiana_reports.csv", encoding="utf-8")))
    with open(out / "indiana_reports.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=[*rows[0], "split"])
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "split": split.get(row["uid"], "")})
    manifest = (ROOT / "medsearch" / "archives" / "manifests" / "iu-xray.toml").read_text("utf-8")
    manifest = manifest.replace('name = "iu-xray"', 'name = "iu-xray-r2gen-split"').replace(
        'patient = "uid"', 'patient = "uid"\nsplit = "split"')
    (out / "iu.toml").write_text(manifest, "utf-8")
    print(f"medsearch index --manifest {out / 'iu.toml'} --root {out} --index idx-iu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", choices=("medpix", "iu", "iu-archive"))
    parser.add_argument("--index", help="the index to evaluate (medpix, iu)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--ood", type=int, default=100, help="out-of-domain images per source (medpix)")
    parser.add_argument("--limit", type=int, default=0, help="held-out reports to query (iu; 0 = all)")
    args = parser.parse_args()
    if args.which == "iu-archive":
        return iu_archive(args)
    if not args.index:
        parser.error("--index is required")
    result = medpix(args) if args.which == "medpix" else iu(args)
    out = Path(args.out) / f"teaching_{args.which}.json"
    out.write_text(json.dumps(result, indent=1, default=str))
    summary = {k: v for k, v in result.items() if k != "per_query"}
    print(json.dumps(summary, indent=1, default=str))


if __name__ == "__main__":
    main()
