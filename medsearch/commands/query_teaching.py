"""The teaching options of `medsearch query`: --group case, --diverse, --different-diagnosis."""

from __future__ import annotations

from medsearch.errors import BadQuery

GROUPS = ("case",)


def check_teaching_options(image, group, different_diagnosis, diagnosis) -> None:
    """The teaching options' combinations, checked before the index is opened (its checksums are read then)."""
    if group is not None and group not in GROUPS:
        raise BadQuery(f"unknown --group {group!r}", hint=f"choose one of: {', '.join(GROUPS)}")
    if diagnosis and not different_diagnosis:
        raise BadQuery("--diagnosis only goes with --different-diagnosis",
                       hint="add --different-diagnosis (with --image PATH), or leave --diagnosis out")
    if different_diagnosis and image is None:
        raise BadQuery("--different-diagnosis needs --image PATH", hint="e.g. medsearch query --image scan.png --different-diagnosis")


def teaching_query(idx, text, image, k, target, filters, group, diverse, different_diagnosis, diagnosis,
                   json_output: bool) -> None:
    """Runs after check_teaching_options."""
    from medsearch.commands import json_output as output
    from medsearch.commands.results_table import print_results
    from medsearch.targets import resolve_target
    from medsearch.teaching import show

    if different_diagnosis:
        from medsearch.teaching.differential import different_diagnosis_for_image

        result = different_diagnosis_for_image(idx, image, k=k, filters=filters, diagnosis=diagnosis)
        if json_output:
            output.print_json(result.to_dict())
        else:
            show.print_cases(result.hits, f"differs from: {result.reference_diagnosis or ', '.join(result.reference_labels)}"
                                          f" ({result.reference_source})")
        return
    if group == "case":
        from medsearch.teaching.cases import search_cases_image as by_image, search_cases_text as by_text

        print_table = show.print_cases
        search_target = resolve_target(target, False, tuple(idx.manifest.modalities)) if target or image is None else "image"
        if search_target not in idx.manifest.modalities:
            search_target = next(iter(idx.manifest.modalities))
    else:
        from medsearch.teaching.diverse import diverse_image as by_image, diverse_text as by_text

        print_table = print_results
        search_target = resolve_target(target, image is not None, tuple(idx.manifest.modalities))
    search, query = (by_image, image) if image is not None else (by_text, text)
    hits = search(idx, query, k=k, target=search_target, filters=filters)
    if json_output:
        output.print_json([h.to_dict() for h in hits])
    else:
        print_table(hits)
