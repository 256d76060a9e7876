"""`medsearch bench search`: judged queries built from an index's own labels, run in every search mode.

Query sets (each chosen by what the index's labels look like; one index per run):

- ``mesh`` (IU X-ray reports, text->report): one query per MeSH/Problems heading with enough reports
  ("Hernia, Hiatal" -> "hiatal hernia"), per heading+side ("left pleural effusion": heading and left or
  bilateral) and per heading+anatomy ("rib fracture"); relevant = the report carries that heading.
- ``findings`` (NIH CXR14 images, text->image): one query per finding label; relevant = the image has it.
- ``concepts`` (ROCO, text->image and text->report): one query per UMLS CUI, phrased by the words that best
  predict the CUI in the *train* captions (not the indexed ones); relevant = the item carries the CUI.

Each plain query also yields, where the lexicon has them, an abbreviation query (COPD) and a lay query
("enlarged heart"), and a negated query ("no pneumothorax", "without ...", "... excluded"; relevant = the item
does NOT carry the label, and ``asserting@10`` counts the hits in the top 10 that do). Queries are split into a
tuning half and a test half by a hash of their concept: fusion settings are chosen on the tuning half only.
Metrics per query: P@10, nDCG@10 (binary gains) and R@100, averaged per mode, negation handling, kind and half.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field

from medsearch.store.filters import Filters

MIN_RELEVANT = 8  # a query needs at least this many relevant items
DEPTH = 100
CONFIGS = [("dense", False), ("dense", True), ("lexical", False), ("lexical", True), ("hybrid", False), ("hybrid", True)]
NEGATION_FORMS = ("no {}", "without {}", "{} excluded")
SIDES = {"left": ("left", "bilateral"), "right": ("right", "bilateral"), "bilateral": ("bilateral",)}
ANATOMY = {"ribs": "rib", "clavicle": "clavicle", "spine": "spine", "humerus": "humerus", "shoulder": "shoulder",
           "thoracic vertebrae": "thoracic spine", "lumbar vertebrae": "lumbar spine", "aorta": "aortic",
           "diaphragm": "diaphragm", "mediastinum": "mediastinal", "hilum": "hilar", "lung": "lung"}
# headings that name a structure, not a finding (in IU X-ray the finding is then in the subheading)
ANATOMY_HEADINGS = {"aorta", "aorta, thoracic", "heart", "lung", "lungs", "spine", "mediastinum", "diaphragm",
                    "thoracic vertebrae", "lumbar vertebrae", "cervical vertebrae", "shoulder", "pulmonary artery",
                    "costophrenic angle", "cardiac shadow", "ribs", "clavicle", "hilum", "trachea", "bone and bones",
                    "abdomen", "breast", "sternum", "humerus", "kidney", "liver", "stomach", "colon", "neck",
                    "pleura", "bronchi", "blood vessels", "epicardial fat", "thorax", "pericardium", "thymus",
                    "azygos lobe", "heart ventricles", "heart atria", "subcutaneous tissue", "vena cava, superior"}
# headings whose inverted form reads badly as a query
HEADING_PHRASES = {"Fractures, Bone": "fracture", "Pulmonary Disease, Chronic Obstructive":
                   "chronic obstructive pulmonary disease", "Technical Quality of Image Unsatisfactory": None,
                   "No Indexing": None, "normal": "normal chest radiograph", "No Finding": "normal chest radiograph"}
NIH_PHRASES = {"Effusion": "pleural effusion", "Infiltration": "infiltrate", "Mass": "lung mass",
               "Nodule": "lung nodule", "Pleural_Thickening": "pleural thickening", "Hernia": "hiatal hernia"}


@dataclass
class JudgedQuery:
    text: str
    kind: str  # plain, abbreviation, lay, negated
    concept: str
    half: str  # tune or test
    relevant: set[int] = field(default_factory=set)  # item ids
    negated: bool = False
    positive: set[int] = field(default_factory=set)  # negated queries: the items that carry the label


def half_of(concept: str) -> str:
    return "tune" if int(hashlib.sha1(concept.encode()).hexdigest(), 16) % 2 == 0 else "test"


def heading_phrase(heading: str) -> str | None:
    if heading in HEADING_PHRASES:
        return HEADING_PHRASES[heading]
    parts = [p.strip() for p in heading.split(",")]
    return " ".join(reversed(parts)).lower() if len(parts) == 2 else heading.lower()


def _inverse_lexicon() -> dict[str, dict[str, list[str]]]:
    from medsearch.prompts import LEXICON_PATH, normalise

    data = json.loads(LEXICON_PATH.read_text("utf-8"))
    out: dict[str, dict[str, list[str]]] = {"abbreviation": defaultdict(list), "lay": defaultdict(list)}
    for kind, section in (("abbreviation", "abbreviations"), ("lay", "lay_terms")):
        for term, phrase in data.get(section, {}).items():
            if normalise(term) != normalise(phrase):
                out[kind][normalise(phrase)].append(term)
    return out


def expand_kinds(plain: list[JudgedQuery], universe: set[int], negated: bool = True) -> list[JudgedQuery]:
    """Abbreviation and lay variants of each plain query (from the lexicon), and negated forms."""
    inverse = _inverse_lexicon()
    out = list(plain)
    for q in plain:
        for kind in ("abbreviation", "lay"):
            for term in inverse[kind].get(q.text, [])[:2]:
                out.append(JudgedQuery(term, kind, q.concept, q.half, set(q.relevant)))
        if negated and q.concept not in ("normal",) and "normal" not in q.text:
            form = NEGATION_FORMS[int(hashlib.sha1(q.text.encode()).hexdigest(), 16) % len(NEGATION_FORMS)]
            out.append(JudgedQuery(form.format(q.text), "negated", q.concept, q.half, universe - q.relevant,
                                   negated=True, positive=set(q.relevant)))
    return out


def _narrower(by_heading: dict[str, set[int]]) -> dict[str, set[str]]:
    """Heading -> the headings that are kinds of it by wording ("Granuloma" -> "Calcified Granuloma",
    "Emphysema" -> "Pulmonary Emphysema"): a report with the narrower heading is relevant to the broader one."""
    words = {h: set(re.findall(r"[a-z]+", h.lower())) for h in by_heading}
    return {h: {o for o in by_heading if words[h] and words[h] <= words[o]} for h in by_heading}


def mesh_queries(records) -> list[JudgedQuery]:
    """IU X-ray: finding headings, heading+side, heading+anatomy (labels "Heading/sub/sub"); relevant = the
    heading or a narrower one ("granuloma" finds "Calcified Granuloma" reports)."""
    by_heading, by_side, by_anatomy = defaultdict(set), defaultdict(set), defaultdict(set)
    for r in records:
        for label in r.labels:
            parts = [p.strip() for p in label.split("/")]
            heading = parts[0]
            by_heading[heading].add(r.item_id)
            for side in SIDES:
                if side in parts[1:]:
                    by_side[(heading, side)].add(r.item_id)
            for part in parts[1:]:
                if part in ANATOMY:
                    by_anatomy[(heading, part)].add(r.item_id)
    narrower = _narrower(by_heading)
    findings = {h for h in by_heading if h.lower() not in ANATOMY_HEADINGS and heading_phrase(h)}
    queries = []
    for heading in sorted(findings):
        items = set().union(*(by_heading[h] for h in narrower[heading]))
        if len(items) >= MIN_RELEVANT:
            queries.append(JudgedQuery(heading_phrase(heading), "plain", heading, half_of(heading), items))
    for (heading, side), items in sorted(by_side.items()):
        phrase = heading_phrase(heading)
        if side == "bilateral" or heading not in findings:
            continue
        relevant = set().union(*(by_side.get((h, s), set()) for h in narrower[heading] for s in SIDES[side]))
        if len(relevant) >= MIN_RELEVANT:
            queries.append(JudgedQuery(f"{side} {phrase}", "plain", f"{heading}/{side}", half_of(heading), relevant))
    for (heading, part), items in sorted(by_anatomy.items()):
        phrase = heading_phrase(heading)
        if heading in findings and len(items) >= MIN_RELEVANT:
            queries.append(JudgedQuery(f"{ANATOMY[part]} {phrase}", "plain", f"{heading}/{part}", half_of(heading),
                                       set(items)))
    return queries


def finding_queries(records) -> list[JudgedQuery]:
    """NIH CXR14: one query per finding label."""
    by_label = defaultdict(set)
    for r in records:
        for label in r.labels:
            by_label[label].add(r.item_id)
    queries = []
    for label, items in sorted(by_label.items()):
        phrase = NIH_PHRASES.get(label) or heading_phrase(label) or ""
        if phrase and label != "No Finding" and len(items) >= MIN_RELEVANT:
            queries.append(JudgedQuery(phrase.replace("_", " ").lower(), "plain", label, half_of(label), set(items)))
    return queries


_WORD = re.compile(r"[a-z][a-z-]{2,}")
_FILLER = set("the and with for from this that are was were which there image images figure showing shows show "
              "arrow arrows left right patient case after before within into white black side weighted scan space "
              "section months years days weeks year month normal anterior posterior sagittal axial coronal view "
              "level region area".split())


def concept_queries(records, train_captions: list[tuple[str, set[str]]], max_queries: int = 60) -> list[JudgedQuery]:
    """ROCO: per CUI carried by enough indexed items, the 1-2 word phrase of the train captions that best
    predicts it (precision x log support), so the query never comes from the texts being searched."""
    by_cui = defaultdict(set)
    for r in records:
        for label in r.labels:
            if re.fullmatch(r"C\d{7}", label):
                by_cui[label].add(r.item_id)
    grams_of_caption = []
    gram_count: Counter = Counter()
    for caption, _ in train_captions:
        words = [w for w in _WORD.findall(caption.lower()) if w not in _FILLER]
        grams = set(words) | {f"{a} {b}" for a, b in zip(words, words[1:])}
        grams_of_caption.append(grams)
        gram_count.update(grams)
    queries = []
    wanted = [c for c, items in sorted(by_cui.items(), key=lambda kv: -len(kv[1])) if len(items) >= MIN_RELEVANT]
    for cui in wanted:
        with_cui = [g for g, (_, cuis) in zip(grams_of_caption, train_captions) if cui in cuis]
        if len(with_cui) < 10:
            continue
        together = Counter(g for grams in with_cui for g in grams)
        best = max(together, key=lambda g: (together[g] / gram_count[g]) * math.log(together[g] + 1)
                   if together[g] >= 5 else 0.0)
        if together[best] < 5 or together[best] / gram_count[best] < 0.5:
            continue  # no phrase names this concept well enough
        if best in {q.text for q in queries}:
            continue  # one query per phrase (the extractor maps one word to several CUIs)
        queries.append(JudgedQuery(best, "plain", cui, half_of(cui), set(by_cui[cui])))
        if len(queries) >= max_queries:
            break
    return queries


# --- running -------------------------------------------------------------------------------------------

def all_records(index, target: str):
    store = index.store
    ids = store.allowed_vector_ids(target, Filters(split=None))
    if len(ids) == 0:
        return []
    return list(store.records(target, ids.tolist()).values())


def metrics(ranked: list[int], q: JudgedQuery) -> dict:
    top = ranked[:10]
    gains = [1.0 if i in q.relevant else 0.0 for i in top]
    ideal = sum(1.0 / math.log2(r + 2) for r in range(min(10, len(q.relevant))))
    dcg = sum(g / math.log2(r + 2) for r, g in enumerate(gains))
    out = {"p@10": sum(gains) / 10.0, "ndcg@10": dcg / ideal if ideal else 0.0,
           "r@100": len(set(ranked[:DEPTH]) & q.relevant) / len(q.relevant) if q.relevant else 0.0}
    if q.negated:
        out["asserting@10"] = float(sum(1 for i in top if i in q.positive))
    return out


def cached_embeddings(index) -> None:
    """Embed each (query, target) once for all modes and settings (a search embeds through ``embed_query``)."""
    original, cache = index.embed_query, {}

    def embed_query(query, target="image", ensemble=True, expand=True):
        key = (query, target, ensemble, expand)
        if key not in cache:
            cache[key] = original(query, target=target, ensemble=ensemble, expand=expand)
        return cache[key]

    index.embed_query = embed_query


def run_queries(index, queries: list[JudgedQuery], target: str, configs=CONFIGS, fusion=None) -> list[dict]:
    rows = []
    for q in queries:
        for mode, negation in configs:
            start = time.perf_counter()
            hits = index.search_text(q.text, k=DEPTH, target=target, mode=mode, negation=negation, fusion=fusion)
            rows.append({"query": q.text, "kind": q.kind, "concept": q.concept, "half": q.half, "mode": mode,
                         "negation": negation, "seconds": time.perf_counter() - start,
                         "relevant": len(q.relevant), **metrics([h.item_id for h in hits], q)})
    return rows


def summarise(rows: list[dict]) -> dict:
    """Mean metrics per (mode, negation) x (kind, half)."""
    groups = defaultdict(list)
    for row in rows:
        config = f"{row['mode']}{'+neg' if row['negation'] else ''}"
        for kind in (row["kind"], "all"):
            for half in (row["half"], "all"):
                groups[(config, kind, half)].append(row)
    out = {}
    for (config, kind, half), members in sorted(groups.items()):
        names = [m for m in ("p@10", "ndcg@10", "r@100", "asserting@10") if m in members[0]]
        out.setdefault(config, {}).setdefault(kind, {})[half] = {
            **{m: sum(r[m] for r in members) / len(members) for m in names}, "n": len(members)}
    return out


def tune_fusion(index, sets: list[tuple[list[JudgedQuery], str]], grid) -> tuple[object, list[dict]]:
    """The FusionSettings with the best mean nDCG@10 over the tuning half of every set (hybrid, negation on)."""
    trials = []
    for settings in grid:
        scores = []
        for queries, target in sets:
            tune = [q for q in queries if q.half == "tune"]
            rows = run_queries(index[target] if isinstance(index, dict) else index, tune, target,
                               configs=[("hybrid", True)], fusion=settings)
            scores += [r["ndcg@10"] for r in rows]
        trials.append({"settings": asdict(settings), "tune_ndcg@10": sum(scores) / max(len(scores), 1)})
    best = max(range(len(grid)), key=lambda i: trials[i]["tune_ndcg@10"])
    return grid[best], trials
