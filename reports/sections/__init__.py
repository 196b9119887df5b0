"""The report's sections: one small function per section gathers its rows and charts.

Each function takes the read-only database and the run selection and returns a
``Section``, or ``None`` when its tables have no rows for the selected runs (the
report then leaves the section out). Strings from the data stay plain ``str``:
the autoescaping templates and ``reports.svg`` escape them.
"""

from __future__ import annotations

from collections.abc import Callable

from reports.runs import ReportDb, Selection
from reports.sections.attribution import attribution, recommendations, verification
from reports.sections.common import Section
from reports.sections.probes import probes
from reports.sections.scan import concentration, hypotheses, keyness, phrases, sources
from reports.sections.search import findings
from reports.sections.summary import summary
from stage_kit import NO_PROGRESS, Progress

SECTIONS: tuple[Callable[[ReportDb, Selection], Section | None], ...] = (
    summary,
    sources,
    concentration,
    keyness,
    hypotheses,
    phrases,
    findings,
    attribution,
    recommendations,
    verification,
    probes,
)


def gather(db: ReportDb, selection: Selection, progress: Progress = NO_PROGRESS) -> list[Section]:
    """Every section that has rows, in report order (``progress``: one unit per section)."""
    shown = []
    for done, fn in enumerate(SECTIONS, 1):
        section = fn(db, selection)
        if section is not None:
            shown.append(section)
        progress("report sections", done, len(SECTIONS), section.id if section else "", "sections")
    return shown


__all__ = ["SECTIONS", "Section", "gather"]
