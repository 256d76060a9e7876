"""Choose the text-query defaults (lexicon expansion, template ensemble, the caption-length cut-off) by what they do
to text->image recall through the product's query path, on ROCO val + MedPix dev (never test).

    python benchmarks/query_defaults.py [--model medsearch-default] [--out benchmarks/results/query_defaults.json]

Each variant embeds every caption of the pool as a query the way ``Index.embed_text`` does (``prompts``), scores
it against the pool's images (ROCO: same caption relevant; MedPix: same case relevant) and reports R@1/5/10.
``ensemble<=N`` applies the template ensemble only to queries of at most N words (longer, caption-like queries are
embedded bare).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # ../shared/data beside the repository


def pools():
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from model_features import medpix_items, roco_items

    roco = [it for it in roco_items(DATA / "roco") if it.split == "val"]
    medpix = [it for it in medpix_items(DATA / "medpix") if it.split == "dev"]
    return {"roco_val": (roco, None), "medpix_dev": (medpix, [it.extra["case"] for it in medpix])}


def ranks_for(queries: np.ndarray, images: np.ndarray, texts, groups) -> np.ndarray:
    from medsearch.eval import metrics

    relevant = metrics.same_text_relevance(texts, texts)
    if groups is not None:
        g = np.array(groups)
        relevant |= g[:, None] == g[None, :]
    return metrics.first_relevant_rank(queries @ images.T, relevant)


def main() -> None:
    from medsearch.eval import metrics
    from medsearch.eval.embedding import embed_items
    from medsearch.models import load_encoder
    from medsearch.prompts import ensemble_embedding, normalise, prepare_query

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--weights", type=Path, default=None, help="a default-model weights file (instead of --model)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "query_defaults.json")
    args = ap.parse_args()
    if args.weights:
        from medsearch.models import default

        encoder = default.load(device="cpu", weights=args.weights)
    else:
        encoder = load_encoder(args.model, device="cpu")
    report = {"model_id": encoder.model_id, "pools": {}}
    cutoffs = (0, 3, 5, 8, 12, 1000)
    for name, (items, groups) in pools().items():
        emb = embed_items(items, encoder, show_progress=False)
        texts = emb.texts
        kept_groups = None
        if groups is not None:
            by_key = {it.key: g for it, g in zip(items, groups)}
            kept_groups = [by_key[it.key] for it in emb.items]
        variants: dict[str, np.ndarray] = {"raw caption": emb.text_vectors}
        prepared = {True: [prepare_query(t, expand=True) for t in texts], False: [prepare_query(t, expand=False) for t in texts]}
        for expand in (True, False):
            tag = "lexicon" if expand else "no lexicon"
            bare = encoder.encode_texts(prepared[expand])
            ens = np.stack([ensemble_embedding(encoder, q, "clinical") for q in prepared[expand]])
            words = np.array([len(normalise(t).split()) for t in texts])
            variants[f"{tag}, no templates"] = bare
            for cut in cutoffs:
                use = (words <= cut)[:, None]
                variants[f"{tag}, ensemble<={cut} words" if cut < 1000 else f"{tag}, ensemble always"] = np.where(use, ens, bare)
        rows = {}
        for variant, q in variants.items():
            r = ranks_for(q, emb.image_vectors, texts, kept_groups)
            rows[variant] = {f"R@{k}": metrics.recall_at_k(r, k) for k in (1, 5, 10)}
        report["pools"][name] = {"pool": len(texts), "median_words": float(np.median([len(t.split()) for t in texts])),
                                 "text_to_image": rows}
    names = list(report["pools"]["roco_val"]["text_to_image"])
    report["mean_r10"] = {v: float(np.mean([report["pools"][p]["text_to_image"][v]["R@10"] for p in report["pools"]]))
                          for v in names}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    for v in names:
        cells = " | ".join(f"{p}: " + "/".join(f"{100 * report['pools'][p]['text_to_image'][v][f'R@{k}']:.1f}" for k in (1, 5, 10))
                           for p in report["pools"])
        print(f"{v:34s} {cells} | mean R@10 {100 * report['mean_r10'][v]:.1f}")


if __name__ == "__main__":
    main()
