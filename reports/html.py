"""Render the audit database as one self-contained HTML file (Jinja2, autoescaped).

The page loads nothing: CSS, the table-sorting script and the SVG charts are
inline, and a Content-Security-Policy forbids every network fetch and every
script except the report's own (allowed by its hash), as a second line of
defence behind escaping.

``render`` works on any :class:`~reports.runs.ReportDb` (the report stage passes a
store's); ``render_report`` and ``write_report`` open the file at a path read-only,
never migrating it.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from reports.runs import ReadOnlyDb, ReportDb, select_runs
from reports.sections import gather
from reports.svg import MODE_COLOURS
from reports.tables import fmt, sort_value
from stage_kit import NO_PROGRESS, Progress


def _asset(name: str) -> str:
    return resources.files("reports").joinpath("templates", name).read_text(encoding="utf-8")


def _csp(script: str) -> str:
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    return (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )


def environment() -> Environment:
    """The Jinja2 environment: package templates, autoescape on, undefined names fail."""
    env = Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = fmt
    env.filters["sort_value"] = sort_value
    return env


@dataclass(frozen=True)
class Report:
    """A rendered report: the page and what it shows."""

    html: str
    sections: list[str]  # ids of the sections shown, in order
    runs: list[str]  # ids of the runs shown


def render(
    db: ReportDb, run_ids: list[str] | None = None, progress: Progress = NO_PROGRESS
) -> Report:
    """The report for the runs ``run_ids`` in ``db`` (default: the latest run of each stage)."""
    selection = select_runs(db, run_ids)
    sections = gather(db, selection, progress)
    script = _asset("report.js")
    meta = {"db": db.path.name, "runs": list(selection.runs)}
    html = (
        environment()
        .get_template("report.html.j2")
        .render(
            title="chunky-audit report",
            db_name=db.path.name,
            generated_at=datetime.now(UTC),
            sections=sections,
            css=Markup(_asset("report.css")),
            script=Markup(script),
            csp=_csp(script),
            mode_colours=MODE_COLOURS,
            meta={**meta, "sections": [s.id for s in sections]},
        )
    )
    return Report(html, [s.id for s in sections], list(selection.runs))


def render_report(db_path: str | Path, run_ids: list[str] | None = None) -> Report:
    """The report for the database file at ``db_path``, opened read-only."""
    db = ReadOnlyDb(db_path)
    try:
        return render(db, run_ids)
    finally:
        db.close()


def write_html(out: str | Path, html: str) -> Path:
    """Write ``html`` to ``out`` atomically (its folder is created); OSError when it cannot."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    return out


def write_report(db_path: str | Path, out: str | Path, run_ids: list[str] | None = None) -> Report:
    """Render the report of the file at ``db_path`` (read-only) and write it to ``out``."""
    report = render_report(db_path, run_ids)
    write_html(out, report.html)
    return report
