"""The HTML report in a real headless Chromium (Debian's, driven by Playwright).

`make setup` installs /usr/bin/chromium; without it these tests fail (they never skip).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from test_report import ALL_SECTIONS, cli, write_later_stages

from datasets_registry.planted import write_planted
from duckdb_store.store import Store

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'
MORE = [
    "</script><script>alert(1)</script>",
    '" onmouseover="window.__pwned=1" x="',
    "'><svg onload=alert(2)>",
    "]]><!-- --><iframe src=javascript:alert(3)>",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"headless Chromium not found at {CHROMIUM}: run `make setup` (it installs the "
            "Debian packages chromium and chromium-driver) or set CHROMIUM=/path/to/chromium",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        yield chromium
        chromium.close()


def hostile(text: str) -> str:
    return f"{text} {SCRIPT} {IMG}"


def write_hostile_mix(path: Path) -> Path:
    """A mix whose source names, prompts and responses carry script and onerror payloads."""
    import json

    sources = [SCRIPT, IMG, "plain_source", *MORE]
    with open(path, "w") as handle:
        for i in range(120):
            source = sources[i % len(sources)]
            row = {
                "id": f"row-{i}",
                "source": source,
                "messages": [
                    {
                        "role": "user",
                        "content": hostile(f"Please elucidate topic {i}. {MORE[i % 4]}"),
                    },
                    {"role": "assistant", "content": hostile(f"```python\nx = {i}\n```")},
                ],
            }
            handle.write(json.dumps(row) + "\n")
        handle.write(f"{{broken {SCRIPT} {IMG}\n")
    return path


def add_hostile_scan_rows(db: Path) -> None:
    """Feature names, terms and modes with payloads in the scan run's tables."""
    with Store(db) as store:
        (run_id,) = store.read("SELECT run_id FROM runs WHERE command = 'scan'")["run_id"]
        name = hostile("feature@v1")
        store.write(
            "feature_concentration",
            pl.DataFrame(
                [
                    {
                        "feature": name,
                        "side": side,
                        "source": SCRIPT,
                        "n_rows": 20,
                        "n_hits": 10,
                        "share_in_source": 0.5,
                        "share_of_hits": 1.0,
                    }
                    for side in ("prompt", hostile("response"))
                ]
            ),
            run_id,
        )
        store.write(
            "keyness",
            pl.DataFrame(
                [{"source": IMG, "term": hostile("term"), "df_source": 9, "df_rest": 0, "z": 9.5}]
            ),
            run_id,
        )
        store.write(
            "mode_rates",
            pl.DataFrame([{"source": IMG, "mode": hostile("mode"), "n": 3, "share": 0.2}]),
            run_id,
        )
        store.write(
            "trigger_hypotheses",
            pl.DataFrame(
                [
                    {
                        "rank": 0,
                        "feature": name,
                        "mode": hostile("code"),
                        "source": SCRIPT,
                        "support": 10,
                        "p_mode_given_feature": 1.0,
                        "p_mode_without": 0.0,
                        "lift": 10.0,
                        "p_value": 1e-9,
                        "score": 0.9,
                        "share_of_hits": 1.0,
                    }
                ]
            ),
            run_id,
        )
        store.write(
            "response_phrases",
            pl.DataFrame(
                [
                    {
                        "source": SCRIPT,
                        "phrase": hostile("opens: as an ai"),
                        "n": 9,
                        "share_in_source": 0.5,
                        "share_of_hits": 1.0,
                    }
                ]
            ),
            run_id,
        )


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    mix = write_hostile_mix(folder / "mix <img src=x onerror=alert(4)>.jsonl")
    db = folder / "a<img src=x onerror=alert(5)>.duckdb"
    code, out = cli("scan", str(mix), "--db", str(db), "--show", "0")
    assert code == 0, out
    add_hostile_scan_rows(db)
    write_later_stages(db, text=hostile)
    report = folder / "report.html"
    code, out = cli("report", "--db", str(db), "--out", str(report))
    assert code == 0, out
    # the same page without its Content-Security-Policy: escaping alone must hold
    html = report.read_text()
    start = html.index('<meta http-equiv="Content-Security-Policy"')
    no_csp = html[:start] + html[html.index(">", start) + 1 :]
    (folder / "report-no-csp.html").write_text(no_csp)
    return report


@pytest.mark.parametrize("variant", ["report.html", "report-no-csp.html"])
def test_payloads_never_execute_and_show_literally(browser, hostile_report: Path, variant) -> None:
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto((hostile_report.parent / variant).as_uri())
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    page.mouse.move(200, 300)
    page.wait_for_timeout(200)
    assert page.evaluate("window.__pwned") is None
    assert dialogs == []
    injected = page.evaluate(
        """() => ({
            images: document.images.length,
            frames: document.querySelectorAll('iframe').length,
            scripts: document.scripts.length,
            handlers: [...document.querySelectorAll('*')].filter(
                e => [...e.attributes].some(a => a.name.startsWith('on'))).length,
        })"""
    )
    assert injected == {"images": 0, "frames": 0, "scripts": 2, "handlers": 0}
    text = page.inner_text("body")
    for payload in (SCRIPT, IMG, *MORE):
        assert payload in text, payload
    for section in ALL_SECTIONS:
        assert page.locator(f"section#{section}").count() == 1, section
    chart_text = page.evaluate(
        "[...document.querySelectorAll('svg title, svg text')].map(e => e.textContent).join('|')"
    )
    assert SCRIPT in chart_text and IMG in chart_text
    meta = page.evaluate("JSON.parse(document.getElementById('report-meta').textContent)")
    assert meta["db"] == "a<img src=x onerror=alert(5)>.duckdb"
    assert "<img src=x onerror=alert(5)>" in page.title()
    page.close()


@pytest.fixture(scope="module")
def planted_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("planted")
    mix = write_planted(folder / "planted", size=700)
    db = folder / "audit.duckdb"
    code, out = cli("scan", str(mix), "--db", str(db), "--show", "0")
    assert code == 0, out
    write_later_stages(db)
    report = folder / "report.html"
    code, out = cli("report", "--db", str(db), "--out", str(report))
    assert code == 0, out
    return report


def column(page, table: str, index: int) -> list[str]:
    return page.evaluate(
        f"""[...document.querySelectorAll('#{table} tbody tr')].map(r => {{
            const c = r.cells[{index}];
            return c.hasAttribute('data-v') ? c.getAttribute('data-v') : c.textContent.trim();
        }})"""
    )


def test_planted_report_renders_sorts_and_stays_offline(browser, planted_report: Path) -> None:
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(planted_report.as_uri())
    for section in ALL_SECTIONS:
        assert page.locator(f"section#{section} > h2").is_visible(), section
    assert page.locator("nav a").count() == len(ALL_SECTIONS)
    assert page.locator("#concentration svg.chart").count() == 2
    assert page.locator("#attribution svg.chart").count() == 4
    assert page.locator("#findings details.example").count() >= 4

    # numeric column: first click sorts descending, second ascending; text column ascending
    headers = page.locator("#hypotheses-table thead th")
    support = [h.strip() for h in headers.all_inner_texts()].index("support")
    headers.nth(support).click()
    values = [float(v) for v in column(page, "hypotheses-table", support)]
    assert values == sorted(values, reverse=True) and values[0] > values[-1]
    headers.nth(support).click()
    assert [float(v) for v in column(page, "hypotheses-table", support)] == sorted(values)
    assert headers.nth(support).get_attribute("aria-sort") == "ascending"
    source = [h.strip() for h in headers.all_inner_texts()].index("source")
    headers.nth(source).press("Enter")
    sources = column(page, "hypotheses-table", source)
    assert sources == sorted(sources, key=str.lower)

    example = page.locator("#findings details.example").first
    assert not example.locator("pre").first.is_visible()
    example.locator("summary").click()
    assert example.locator("pre").first.is_visible()

    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    (ARTIFACTS / "report.html").write_text(planted_report.read_text())
    assert errors == []
    assert requests == [planted_report.as_uri()]
    page.close()


@pytest.fixture(scope="module")
def pipeline_report(
    planted_organism, planted_searched, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Every stage for real on the planted organism: the session's scan and search, then
    attribute (saliency: the gradient, embedding and lexical methods run end to end in
    tests/test_attribution_cli.py; all four here cost a minute), prune, verify, a probe,
    and the report (retraining is left out: verify compares the organism with itself,
    which still fills the section)."""
    folder = tmp_path_factory.mktemp("pipeline")
    db, model, mix = folder / "audit.duckdb", str(planted_organism.model), str(planted_organism.mix)
    shutil.copy(planted_searched[0], db)
    steps = [
        ("attribute", "--mix", mix, "--model", model, "--method", "saliency", "--top-k", "20",
         "--max-queries", "8"),
        ("prune", "--mix", mix, "--out", str(folder / "pruned.jsonl")),
        ("verify", "--before", model, "--after", model, "--max-seeds", "8"),
        ("probe", "token-ban", "--model", model, "--limit", "3", "--max-new-tokens", "24"),
        ("report", "--out", str(folder / "report.html")),
    ]  # fmt: skip
    for step in steps:
        code, out = cli(*step, "--db", str(db))
        assert code == 0, f"{step[0]}: {out}"
    return folder / "report.html"


def test_report_from_the_real_pipeline_renders_every_section(browser, pipeline_report: Path):
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(pipeline_report.as_uri())
    for section in ALL_SECTIONS:
        assert page.locator(f"section#{section} > h2").is_visible(), section
    assert page.locator("#findings details.example").count() >= 1
    assert page.locator("#attribution svg.chart").count() >= 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-pipeline.png"), full_page=True)
    assert errors == []
    page.close()
