"""The report's forms: JSON against its schema, plots, self-contained HTML opened in headless
Chromium, JUnit XML, the CI step summary, rebuilding without recomputing."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from helpers import read_json

from pipeline import artifacts
from pipeline.records import ParityRecord
from pipeline.stages.report import schema

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOT_MIN_BYTES, PLOT_MAX_BYTES = 10_000, 2_000_000
PLOT_MIN_SIDE, PLOT_MAX_SIDE = 300, 3000
# A screenshot shows the plots when it holds many pixels of their colours (matplotlib's blue and
# the GELU red), and far fewer once the images are taken out of the page.
PLOT_BLUE, PLOT_RED = (0x1F, 0x77, 0xB4), (0xD6, 0x27, 0x28)
COLOUR_TOL = 40
MIN_PLOT_PIXELS = 20_000
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                  "--window-size=1100,5000"]


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _png_pixels(path: Path) -> np.ndarray:
    """RGB pixels, read with Pillow (installed with matplotlib)."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int32)


def _colour_pixels(pixels: np.ndarray) -> int:
    return int(sum(np.all(np.abs(pixels - np.array(c)) < COLOUR_TOL, axis=2).sum()
                   for c in (PLOT_BLUE, PLOT_RED)))


def _screenshot(html: Path, shot: Path, profile: Path) -> None:
    chromium = shutil.which("chromium")
    subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                    f"--screenshot={shot}", html.as_uri()], check=True, capture_output=True,
                   timeout=120)


def test_the_published_schema_is_generated_from_the_types() -> None:
    """parity.schema.json cannot drift: regenerate it (python -m pipeline.stages.report.schema)."""
    assert schema.SCHEMA_PATH.read_text() == schema.text()


def test_parity_json_matches_the_published_schema(demo_build: Path) -> None:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(json.loads(schema.SCHEMA_PATH.read_text()))
    parity = read_json(demo_build / "parity.json")
    assert list(validator.iter_errors(parity)) == []
    broken = dict(parity, thresholds=[{"threshold": "min_snr_db"}])
    assert list(validator.iter_errors(broken))


def test_plots_are_reasonable_pngs(demo_build: Path) -> None:
    plots = sorted((demo_build / "plots").glob("*.png"))
    names = {p.name for p in plots}
    assert {"gelu_site_0.png", "error_histogram.png", "layer_snr.png",
            "predicted_vs_reference.png"} <= names
    for plot in plots:
        width, height = _png_size(plot)
        assert PLOT_MIN_SIDE <= width <= PLOT_MAX_SIDE and PLOT_MIN_SIDE // 2 <= height, plot
        assert PLOT_MIN_BYTES <= plot.stat().st_size <= PLOT_MAX_BYTES, plot
    md = (demo_build / "parity.md").read_text()
    assert all(f"(plots/{name})" in md for name in names)


@pytest.mark.browser
def test_html_is_self_contained_and_shows_the_plots(demo_build: Path, tmp_path: Path) -> None:
    html = (demo_build / "parity.html").read_text()
    assert html.count("data:image/png;base64,") == len(list((demo_build / "plots").glob("*.png")))
    assert "http://" not in html and "https://" not in html and 'src="plots/' not in html
    page = tmp_path / "parity.html"
    shutil.copy(demo_build / "parity.html", page)  # alone: nothing beside it to load
    _screenshot(page, tmp_path / "shot.png", tmp_path / "profile")
    with_plots = _colour_pixels(_png_pixels(tmp_path / "shot.png"))
    bare = tmp_path / "bare.html"
    bare.write_text(html.replace("data:image/png;base64,", "data:,"))
    _screenshot(bare, tmp_path / "bare.png", tmp_path / "profile2")
    without = _colour_pixels(_png_pixels(tmp_path / "bare.png"))
    assert with_plots >= MIN_PLOT_PIXELS and with_plots > 10 * max(without, 1), \
        (with_plots, without)


def test_report_rebuilds_every_form_without_models(cli, demo_build: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "build"
    shutil.copytree(demo_build, out)
    for name in ("model_float.keras", "model_approx.keras", "model.tflite", "parity.md",
                 "parity.html"):
        (out / name).unlink()
    shutil.rmtree(out / "plots")
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    r = cli("report", out, "--junit", tmp_path / "junit.xml")
    assert r.code == 0, r
    assert (out / "parity.md").is_file() and (out / "parity.html").is_file()
    assert len(list((out / "plots").glob("*.png"))) >= 4
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "# gelu-edge parity: PASSED" in text
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    parity = ParityRecord.load(out)
    cases = suite.findall("testcase")
    assert len(cases) == len(parity.thresholds) + len(parity.checks)
    assert int(suite.get("failures")) == 0 and not suite.findall("testcase/failure")


def test_junit_marks_a_failed_threshold(cli, demo_build: Path, tmp_path: Path) -> None:
    out = tmp_path / "build"
    shutil.copytree(demo_build, out)
    r = cli("build", "--out", out, "--epochs", "2", "--samples", "100", "--min-snr-db", "99",
            "--junit", tmp_path / "junit.xml")
    assert r.code == 1, r
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    failed = [c.get("name") for c in suite.findall("testcase") if c.find("failure") is not None]
    assert failed == ["min_snr_db[y]"] and suite.get("failures") == "1"


def test_a_parity_json_from_another_version_is_a_clear_error(cli, demo_build: Path,
                                                              tmp_path: Path) -> None:
    out = tmp_path / "build"
    shutil.copytree(demo_build, out)
    parity = read_json(out / "parity.json")
    del parity["passed"]
    # Written as a stage would (its hash in the ledger): the file is whole, its shape is not.
    artifacts.write_text(out / "parity.json", json.dumps(parity))
    r = cli("report", out)
    assert r.code == 2 and "does not match what gelu-edge writes (passed" in r.err, r
    assert len(r.err.strip().splitlines()) == 1


def test_the_report_says_what_int8_buys(demo_build: Path) -> None:
    from pipeline.stages.report import gains, summary

    parity = ParityRecord.load(demo_build)
    g = parity.gains
    assert g is not None and g.integer_share == 1.0 and g.float_ops == []
    assert g.quantized_latency and g.float_latency and g.machine
    line = gains.line(parity)
    assert line and line.startswith("int8 MACs 100 %, ") and "(this machine)" in line
    assert line in summary(parity)
    text = (demo_build / "parity.md").read_text()
    assert "## What int8 buys" in text and "this machine's CPU, not the target's" in text
