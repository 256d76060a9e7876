"""Teaching-file tools on top of search: cases (grouped results), diverse results, look-alike cases with another
diagnosis, and retrieval-based report drafts that cite their source cases.

    from medsearch.teaching import search_cases, diverse, different_diagnosis, draft_report
"""

from medsearch.teaching.cases import CaseHit, search_cases
from medsearch.teaching.differential import different_diagnosis
from medsearch.teaching.diverse import diverse
from medsearch.teaching.draft import Draft, draft_report

__all__ = ["CaseHit", "Draft", "different_diagnosis", "diverse", "draft_report", "search_cases"]
