"""Render the audit database as one self-contained HTML file (Jinja2, autoescaped).

The page loads nothing: CSS, the table-sorting script and the SVG charts are
inline, and a Content-Security-Policy forbids every network fetch and every
script except the report's own (allowed by its hash), as a second line of
defence behind escaping.
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

from reports.runs import ReadOnlyDb, select_runs
from reports.sections import gather
from reports.svg import MODE_COLOURS
from reports.tables import fmt, sort_value


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
    html: str
    sections: list[str]  # ids of the sections shown, in order
    runs: list[str]  # ids of the runs shown


def render_report(db_path: str | Path, run_ids: list[str] | None = None) -> Report:
    """The report for the runs ``run_ids`` (default: the latest run of each stage)."""
    db = ReadOnlyDb(db_path)
    try:
        selection = select_runs(db, run_ids)
        sections = gather(db, selection)
    finally:
        db.close()
    script = _asset("report.js")
    meta = {"db": Path(db_path).name, "runs": list(selection.runs)}
    html = (
        environment()
        .get_template("report.html.j2")
        .render(
            title="chunky-audit report",
            db_name=Path(db_path).name,
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


def write_report(db_path: str | Path, out: str | Path, run_ids: list[str] | None = None) -> Report:
    """Render the report and write it to ``out`` (atomically)."""
    report = render_report(db_path, run_ids)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(report.html, encoding="utf-8")
    tmp.replace(out)
    return report
