"""The report's sections: one small function per section gathers its rows and charts.

Each function takes the read-only database and the run selection and returns a
``Section``, or ``None`` when its tables have no rows for the selected runs (the
report then leaves the section out). Strings from the data stay plain ``str``:
the autoescaping templates and ``reports.svg`` escape them.
"""

from __future__ import annotations

from collections.abc import Callable

from reports.runs import ReadOnlyDb, Selection
from reports.sections.attribution import attribution, recommendations, verification
from reports.sections.common import Section
from reports.sections.probes import probes
from reports.sections.scan import concentration, hypotheses, keyness, sources
from reports.sections.search import findings
from reports.sections.summary import summary

SECTIONS: tuple[Callable[[ReadOnlyDb, Selection], Section | None], ...] = (
    summary,
    sources,
    concentration,
    keyness,
    hypotheses,
    findings,
    attribution,
    recommendations,
    verification,
    probes,
)


def gather(db: ReadOnlyDb, selection: Selection) -> list[Section]:
    """Every section that has rows, in report order."""
    return [s for s in (fn(db, selection) for fn in SECTIONS) if s is not None]


__all__ = ["SECTIONS", "Section", "gather"]
