"""Label vocabulary: display names and facet groups for concept codes, and what a ``--label`` accepts.

ROCO labels its figures with UMLS concept ids (CUIs such as C0032326) and semantic types ("T047:Disease or
Syndrome"), without names. ``medsearch/data/concepts.json`` (built from ROCO's captions by
``medsearch.archives.build_concepts``) names the clinically useful CUIs and groups them as a *finding* or a *body
region*. Labels are stored as the archive gives them; names are applied when shown and when filtering:

    label_name("C0032326") == "pneumothorax"
    label_alternatives("pneumothorax") -> every stored spelling it matches: its CUIs, "Pneumothorax", ...
    label_alternatives("C0032326")     -> the CUI and the name's spellings (another archive's "Pneumothorax")

A label that is neither a known name, synonym nor code matches only itself.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

FINDING, BODY_REGION = "finding", "body region"
FACET_OF_GROUP = {FINDING: "findings", BODY_REGION: "body_regions"}
_SEMANTIC_TYPE = re.compile(r"^T\d{3}:")
_CUI = re.compile(r"^C\d{7}$")


@dataclass(frozen=True)
class Vocabulary:
    concepts: dict[str, dict]  # code -> {"name", "group"}
    names: dict[str, str]  # lower-cased name or synonym -> name
    groups: dict[str, str]  # name -> group
    codes: dict[str, list[str]]  # name -> codes


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    data = json.loads(resources.files("medsearch").joinpath("data/concepts.json").read_text("utf-8"))
    names: dict[str, str] = {}
    for name, term in data["terms"].items():
        names[name.lower()] = name
    for name, term in data["terms"].items():
        for word in term["words"]:
            names.setdefault(word.lower(), name)
    codes: dict[str, list[str]] = defaultdict(list)
    for code, concept in sorted(data["concepts"].items()):
        codes[concept["name"]].append(code)
    return Vocabulary(
        concepts={code: {"name": c["name"], "group": c["group"]} for code, c in data["concepts"].items()},
        names=names, groups={name: term["group"] for name, term in data["terms"].items()}, codes=dict(codes))


def is_code(label: str) -> bool:
    return bool(_CUI.match(label))


def is_semantic_type(label: str) -> bool:
    return bool(_SEMANTIC_TYPE.match(label))


def concept_name(label: str) -> str | None:
    """The display name of a concept label: a named code's name, or the name a label's words stand for
    ("Pneumothorax", "hemorrhage" -> "haemorrhage"); None for anything else."""
    vocab = vocabulary()
    if label in vocab.concepts:
        return vocab.concepts[label]["name"]
    return vocab.names.get(label.strip().lower())


def label_name(label: str) -> str:
    """What to show for a stored label: a code's name, a semantic type without its number, else the label."""
    concepts = vocabulary().concepts
    return concepts[label]["name"] if label in concepts else _SEMANTIC_TYPE.sub("", label)


def label_group(label: str) -> str | None:
    """"finding", "body region" or None (unnamed codes, semantic types, other labels)."""
    name = concept_name(label)
    return None if name is None else vocabulary().groups.get(name)


def _spellings(word: str) -> set[str]:
    return {word, word.lower(), word.capitalize(), word.title(), word.upper()}


def label_alternatives(label: str) -> list[str]:
    """Every stored label that ``label`` (a name, a synonym or a code) stands for, itself first."""
    label = label.strip()
    name = concept_name(label)
    if name is None:
        return [label]
    vocab = vocabulary()
    words = {word for word, n in vocab.names.items() if n == name}
    alternatives = set(vocab.codes.get(name, [])) | {s for word in words for s in _spellings(word)}
    return [label] + sorted(alternatives - {label})


def named_labels(labels) -> list[str]:
    """The distinct names of the named concepts among ``labels``, findings before body regions (result cards)."""
    pairs = [(label_group(label), concept_name(label)) for label in labels]
    ordered = sorted(((group, name) for group, name in pairs if group and name), key=lambda gn: gn[0] != FINDING)
    return list(dict.fromkeys(name for _, name in ordered))
