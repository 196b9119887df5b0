"""What every section shares: the Section record and small helpers."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from reports.runs import ReportDb, Selection

MAX_TEXT = 4000


@dataclass
class Section:
    """One section of the page: its anchor id, its heading, what its template shows."""

    id: str
    title: str
    data: dict[str, object] = field(default_factory=dict)  # the template's names

    @property
    def template(self) -> str:
        """The section's template (``templates/sections/<id>.html.j2``)."""
        return f"sections/{self.id}.html.j2"


def clip(text: object, limit: int = MAX_TEXT) -> str:
    """``text`` as a string of at most ``limit`` characters, saying how many were cut."""
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit:,} more chars]"


def finding_labels(db: ReportDb, selection: Selection) -> dict[str, str]:
    """finding_id -> "attribute -> mode", preferring the selected search runs."""
    if not db.has("findings"):
        return {}
    frame = db.frame("SELECT run_id, finding_id, attribute, mode FROM findings")
    preferred = set(selection.ids("search"))
    labels: dict[str, str] = {}
    for row in frame.sort(pl.col("run_id").is_in(list(preferred))).iter_rows(named=True):
        labels[row["finding_id"]] = f"{row['attribute']} → {row['mode']}"
    return labels
