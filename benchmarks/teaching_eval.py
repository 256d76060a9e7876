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

iu: IDX_IU holds IU X-ray reports as text-only items (no images here) with their R2Gen split (train / val / test,
`iu-archive` writes it); each val and test report's indication + comparison is the query, text->text, against
the train reports (an honest stand-in for image->text: the images are not available here). A draft's labels are
the findings its sentences state present (medsearch.teaching.findings, assertion from medsearch.lexical: a
negated or uncertain finding is no label; "no finding" when none), against the held-out report's text read the
same way and, separately, against its MeSH terms read the same way (micro P/R/F1; also without "no finding").
The draft's settings (cases, finding share, statement share) are chosen on val and reported on test, beside the
draft before consensus voting (c888ffd), the nearest report whole, a random train report whole, always "no
finding", and a label vote of the same cases; the first metric (MeSH terms of every cited report the draft
uses) is kept for comparison.
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

from medsearch.eval.metrics import micro_prf  # noqa: E402
from medsearch.search import open_index  # noqa: E402
from medsearch.store.filters import Filters  # noqa: E402
from medsearch.teaching.calibrate import nearest_other_case, stored_matrix  # noqa: E402
from medsearch.teaching.cases import search_cases  # noqa: E402
from medsearch.teaching.diagnosis import same_diagnosis  # noqa: E402
from medsearch.teaching.diverse import diverse, diverse_text  # noqa: E402
from medsearch.teaching.draft import CASES, FINDING_SHARE, STATEMENT_SHARE, compose  # noqa: E402
from medsearch.teaching.findings import NO_FINDING, present_findings  # noqa: E402
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

KS = (3, 5, 7, 10, 15)  # cases per draft tried on val
SHARES = (0.2, 0.3, 0.4, 0.5, 0.6)  # finding_share tried on val; statement_share: every other one
TIE_F1 = 0.005


def iu(args) -> dict:
    """IU X-ray drafts, text -> text from the held-out report's indication (see the module doc and README)."""
    import csv

    idx = open_index(args.index)
    _, base, records = all_records(idx, "text")
    by_key = {r.key: r for r in records.values()}
    reports = {row["uid"]: row for row in csv.DictReader(open(SHARED / "iu-xray-reports" / "indiana_reports.csv", encoding="utf-8"))}
    train = Filters(split="train")
    train_records = sorted((r for r in by_key.values() if r.split == "train"), key=lambda r: r.key)
    train_texts = {" ".join((r.text or "").split()) for r in train_records}
    rng = random.Random(0)
    keys = {split: sorted(k for k, r in by_key.items() if r.split == split) for split in ("val", "test")}
    if args.limit:
        keys = {split: sorted(rng.sample(ks, min(args.limit, len(ks)))) for split, ks in keys.items()}
    started = time.perf_counter()
    queries = {split: [iu_query(idx, by_key[key], reports.get(key, {}), train, train_texts) for key in ks]
               for split, ks in keys.items()}
    # the refusal threshold for this kind of query (an indication, not a report) is chosen on the val split:
    # the 5th percentile of the best train-report similarity of val indications
    threshold = float(np.quantile([q["best"] for q in queries["val"]], 0.05))
    for split_queries in queries.values():
        for q in split_queries:
            q["close"] = [h for h in q["hits"] if h.item_score is not None and h.item_score >= threshold]
    grid = []
    for k in KS:
        for finding_share in SHARES:
            for statement_share in SHARES[::2]:
                setting = {"cases": k, "finding_share": finding_share, "statement_share": statement_share}
                grid.append({**setting, **score_drafts(queries["val"], **setting)})
    # the fewest cases within TIE_F1 of the best val F1 (fewer sources to read); on a tie the larger statement share
    # (normal statements carry no label, so the F1 cannot choose between shares that only add or drop them)
    best = max(row["f1"] for row in grid)
    chosen = max((row for row in grid if row["f1"] >= best - TIE_F1),
                 key=lambda row: (-row["cases"], row["f1"], row["statement_share"]))
    setting = {name: chosen[name] for name in ("cases", "finding_share", "statement_share")}
    defaults = {"cases": CASES, "finding_share": FINDING_SHARE, "statement_share": STATEMENT_SHARE}
    result = {"archive": "iu-xray (text only)", "model": idx.manifest.model_id,
              "query_text": "indication + comparison of the held-out report", "retrieved": "train reports (R2Gen split)",
              "threshold": round(threshold, 4), "threshold_chosen_on": "val indications (5th percentile of best similarity)",
              "labels": "findings stated present (medsearch.teaching.findings: the lexicon's findings, assertion from "
                        "medsearch.lexical; negated and uncertain findings are no label), 'no finding' when none; "
                        "truth: the held-out report's text, and separately its MeSH terms read the same way",
              "chosen_on_val": chosen, "defaults": defaults, "val_grid": grid}
    for split, split_queries in queries.items():
        refused = sum(not q["close"] for q in split_queries)
        systems = {"draft (chosen on val)": score_drafts(split_queries, **setting, keep=split == "test"),
                   "draft (shipped defaults)": score_drafts(split_queries, **defaults),
                   "draft before (c888ffd: the nearest case's sentences + supported others)": score_drafts(
                       split_queries, cases=TOP, compose_with=first_compose)}
        systems.update(baselines(split_queries, train_records, setting, random.Random(1)))
        fresh = [q for q in split_queries if not q["duplicate"]]
        systems["draft (chosen on val), reports not copied from train"] = score_drafts(fresh, **setting)
        systems["draft before, reports not copied from train"] = score_drafts(fresh, cases=TOP, compose_with=first_compose)
        result[split] = {"queries": len(split_queries), "refused": refused,
                         "held_out_reports_identical_to_a_train_report": sum(q["duplicate"] for q in split_queries),
                         "systems": systems, "old_metric_mesh_of_cited_reports": old_metric(split_queries, train_records, setting)}
    result["per_query"] = [{k: v for k, v in q.items() if k not in ("hits", "close")} for q in queries["test"]]
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def iu_query(idx, record, row: dict, train, train_texts) -> dict:
    query = query_of(row)
    hits = search_cases(idx, idx.embed_text(query, target="text"), target="text", k=max(KS), filters=train,
                        images_per_case=1)
    return {"uid": record.key, "query": query, "hits": hits,
            "best": max((h.item_score for h in hits if h.item_score is not None), default=-1.0),
            "truth_text": sorted(present_findings(split_sentences(record.text, min_words=1))),
            "truth_mesh": sorted(mesh_findings(row.get("MeSH", ""))),
            "mesh": sorted(labels_of(record.labels)),
            "duplicate": " ".join((record.text or "").split()) in train_texts}


def mesh_findings(mesh: str) -> set[str]:
    """A report's MeSH terms read as findings ("Cardiomegaly/borderline" -> cardiomegaly); "normal" -> no finding;
    terms that name no finding of the vocabulary ("Lung/hypoinflation") are left out."""
    terms = [term.replace("/", " ") for term in (mesh or "").split(";") if term.strip()]
    if [t.strip().lower() for t in terms] == ["normal"]:
        return {NO_FINDING}
    return present_findings(terms) - {NO_FINDING}


def score_drafts(split_queries, cases: int, finding_share: float = 0.0, statement_share: float = 0.0,
                 compose_with=None, keep: bool = False) -> dict:
    predictions, sentence_counts = [], []
    for q in split_queries:
        close = q["close"][:cases]
        if compose_with is not None:
            findings, impression, _ = compose_with(close)
        else:
            findings, impression, _ = compose(close, finding_share=finding_share, statement_share=statement_share)
        sentences = [s.text for s in findings + impression]
        predictions.append(present_findings(sentences) if sentences else set())
        sentence_counts.append(len(findings))
        if keep:
            q["draft"] = [f"{s.text} [{', '.join(str(n) for n in [s.citation, *s.supported_by])}]" for s in findings]
            q["draft_labels"] = sorted(predictions[-1])
    return {**label_scores(split_queries, predictions),
            "mean_sentences": round(float(np.mean(sentence_counts)), 2) if sentence_counts else 0.0}


def label_scores(split_queries, predictions) -> dict:
    """Micro P/R/F1 of predicted finding labels against the report-text truth (with and without 'no finding') and
    against the MeSH truth."""
    out = {}
    for name, truth_key, drop in (("", "truth_text", set()), ("abnormal_", "truth_text", {NO_FINDING}),
                                  ("mesh_", "truth_mesh", set())):
        tp = pred = true = 0
        for q, p in zip(split_queries, predictions):
            truth, p = set(q[truth_key]) - drop, set(p) - drop
            tp, pred, true = tp + len(truth & p), pred + len(p), true + len(truth)
        precision, recall, f1 = micro_prf(tp, pred, true)
        out.update({f"{name}precision": round(precision, 4), f"{name}recall": round(recall, 4), f"{name}f1": round(f1, 4)})
    return out


def baselines(split_queries, train_records, setting, rng) -> dict:
    def whole(text):
        return present_findings(split_sentences(text, min_words=1))

    def report_text(hit):
        return hit.items[0].text if hit.items else ""

    nearest = [whole(report_text(q["close"][0])) if q["close"] else set() for q in split_queries]
    randoms = [whole(rng.choice(train_records).text) for _ in split_queries]
    normal = [{NO_FINDING} for _ in split_queries]
    vote = []  # the labels enough of the cases state present: what a consensus of labels (no sentences) says
    for q in split_queries:
        close = q["close"][:setting["cases"]]
        counts: dict[str, int] = {}
        for hit in close:
            for label in whole(report_text(hit)):
                counts[label] = counts.get(label, 0) + 1
        needed = max(1, math.ceil(setting["finding_share"] * len(close) - 1e-9))
        labels = {label for label, n in counts.items() if n >= needed and label != NO_FINDING}
        vote.append(labels or ({NO_FINDING} if close else set()))
    return {"nearest report, whole": label_scores(split_queries, nearest),
            "random train report, whole": label_scores(split_queries, randoms),
            "always 'no finding'": label_scores(split_queries, normal),
            "label vote of the same cases (no sentences)": label_scores(split_queries, vote)}


def old_metric(split_queries, train_records, setting) -> dict:
    """The first metric (kept for comparison): MeSH/Problems terms of the cited reports whose sentences a draft
    uses, against the held-out report's; random = as many random train reports."""
    rng = random.Random(0)
    totals = {name: [0, 0, 0] for name in ("draft (chosen on val)", "draft before", "random", "normal")}
    for q in split_queries:
        truth = set(q["mesh"])
        for name, close, composer in (("draft (chosen on val)", q["close"][:setting["cases"]],
                                       lambda c: compose(c, finding_share=setting["finding_share"],
                                                         statement_share=setting["statement_share"])),
                                      ("draft before", q["close"][:TOP], first_compose)):
            findings, impression, _ = composer(close)
            used = {s.citation for s in findings + impression}
            predicted = set().union(*(labels_of(close[n - 1].items[0].labels) for n in used if close[n - 1].items))
            totals[name] = [a + b for a, b in zip(totals[name], (len(predicted & truth), len(predicted), len(truth)))]
            if name == "draft before":
                pick = set().union(*(labels_of(r.labels) for r in rng.sample(train_records, len(used) or 1)))
                totals["random"] = [a + b for a, b in zip(totals["random"], (len(pick & truth), len(pick), len(truth)))]
        totals["normal"] = [a + b for a, b in zip(totals["normal"], (len({"normal"} & truth), 1, len(truth)))]
    out = {}
    for name, (tp, pred, true) in totals.items():
        p, r, f1 = micro_prf(tp, pred, true)
        out[name] = {"precision": round(p, 3), "recall": round(r, 3), "f1": round(f1, 3)}
    return out


def first_compose(hits, max_sentences: int = 6):
    """The draft before consensus voting (c888ffd), kept as a baseline: the nearest case's sentences are all eligible,
    another case's when one other case holds a similar sentence (same mark); scored by similarity x (1 + support)."""
    from medsearch.teaching.draft import DraftSentence, _sources
    from medsearch.teaching.sentences import assertion_and_negated, jaccard, words

    candidates = []
    for number, hit in enumerate(hits, start=1):
        score = float(hit.item_score if hit.item_score is not None else hit.score)
        for position, sentence in enumerate(_sources(hit, ("findings",))):
            candidates.append((number, score, sentence, assertion_and_negated(sentence)[0], words(sentence), position))
    scored = []
    for number, score, sentence, mark, bag, position in candidates:
        support = sorted({n2 for n2, _, _, m2, b2, _ in candidates if n2 != number and m2 == mark and jaccard(bag, b2) >= 0.35})
        if number != 1 and not support:
            continue
        scored.append((score * (1 + len(support)), -number, -position, number, sentence, mark, bag, support))
    scored.sort(key=lambda row: row[:3], reverse=True)
    findings, bags = [], []
    for score, _, _, number, sentence, mark, bag, support in scored:
        if len(findings) == max_sentences:
            break
        if any(jaccard(bag, other) >= 0.6 for other in bags) or sentence in {f.text for f in findings}:
            continue
        bags.append(bag)
        findings.append(DraftSentence(sentence, "findings", mark, number, support, score))
    return findings, [], []


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
