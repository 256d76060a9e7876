"""Which full-text analysis an index's texts were read with: the running code's stamp, the index's (its
manifest's ``analysis``), and what an index whose stamp differs says.

At index time every text is analysed sentence by sentence (``store.lexical.rows_for`` and the case terms of
``teaching.case_lexical``: ``assertion.analyse`` under the default rules); what that makes of a text depends on
the rules data, ``medsearch/data/assertion_rules.json`` (fingerprinted here by content: its parsed JSON, keys
sorted, top-level ``_`` notes left out), on the lexicon's abbreviations (a short form a text defines otherwise is
read as the text means it: ``lexical/abbreviations.py``), and on the code of ``lexical/assertion.py``,
``lexical/tokens.py`` and ``lexical/abbreviations.py`` (``ANALYSER_VERSION``: bump it when a change there changes
what ``analyse`` makes of a text; tests/test_analysis_stamp.py pins a sample's analysis to it). The rest of the
lexicon is not part of it: queries are analysed by the running code.

The indexer stamps the manifest when every text in the store was analysed by the run (a new index, a
``--rebuild``, ``--reanalyse``); a run that adds texts beside older ones keeps the older stamp. An index with
another stamp, or none (built before stamps), opens and answers as before but says that it needs
``medsearch index ... --reanalyse``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ANALYSER_VERSION = 2  # 2: a short form the text defines is read as its long form (lexical/abbreviations.py)


@lru_cache(maxsize=1)
def current_analysis() -> str:
    """The running code's stamp: ``"<ANALYSER_VERSION>.<12 hex digits of the rules' content and the lexicon's
    abbreviations>"``."""
    from medsearch.lexical import assertion

    from medsearch.prompts import lexicon_data

    rules = {key: value for key, value in assertion.rules_data().items() if not key.startswith("_")}
    rules["lexicon abbreviations"] = lexicon_data().get("abbreviations", {})  # see lexical/abbreviations.py
    canonical = json.dumps(rules, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return f"{ANALYSER_VERSION}.{hashlib.sha256(canonical.encode('utf-8')).hexdigest()[:12]}"


def reanalyse_command(index_path: Path | str, model_name: str | None = None) -> str:
    """The command that re-reads an index's texts with the running code (NAME: the archive it was built from);
    ``model_name``: the index's model (the manifest's), named unless it is the default (an indexing run with
    another model is refused)."""
    from medsearch.models.registry import DEFAULT_MODEL

    model = f" --model {model_name}" if model_name and model_name != DEFAULT_MODEL else ""
    return f"medsearch index --manifest NAME --index {index_path}{model} --reanalyse"


@dataclass(frozen=True)
class AnalysisState:
    """An index's analysis stamp beside the running code's."""

    index: str | None  # the manifest's; None: written before stamps, or never every text read by one analysis
    current: str
    texts: bool = True  # the index holds texts; without any, no analysis can be out of date

    @property
    def current_matches(self) -> bool:
        return self.index == self.current or not self.texts

    def to_dict(self) -> dict:
        return {"index": self.index, "current": self.current, "texts": self.texts,
                "current_matches": self.current_matches}

    def warning(self, index_path: Path | str, model_name: str | None = None) -> str | None:
        """One line for a stale index (what differs, and the fix: ``reanalyse_command``), None when the stamps
        match."""
        if self.current_matches:
            return None
        was = ("records no full-text analysis (built before the stamp)" if self.index is None
               else f"was analysed by full-text analysis {self.index}")
        return (f"warning: {index_path} {was}, this medsearch's is {self.current}: its negation and uncertainty "
                f"matches may be out of date; run `{reanalyse_command(index_path, model_name)}`")


def analysis_state(stamp: str | None, texts: bool = True) -> AnalysisState:
    """``stamp`` (a manifest's) beside the running code's; ``texts``: the index holds any text (an image-only
    index, NIH films or DICOM studies without reports, never needs re-analysis)."""
    return AnalysisState(stamp, current_analysis(), texts)
