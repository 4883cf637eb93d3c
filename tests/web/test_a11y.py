"""Accessibility of the web page in real headless Chromium (the same set-up as
test_browser.py): axe-core on every page and state, keyboard focus, labels,
status colours, counts kept current, and narrow screens.

axe-core is the copy bundled with the PyPI package ``axe-playwright-python``
(axe.min.js inside the package; nothing is fetched at run time). Each run's
full report goes to test-artifacts/web/axe-<name>.json.
"""
import json
import os
import shutil
import threading

import pytest

from test_browser import ARTIFACTS, CHROMIUM_ARGS, DESKTOP, PHONE, api_total, browser, page, server, wait_done  # noqa: F401
from webhelpers import TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BLOCKING = ("serious", "critical")       # impacts that fail a page
NARROW = {"width": 320, "height": 640}   # WCAG 1.4.10 reflow: 320 CSS px


def axe_source():
    try:
        from axe_playwright_python.base import AXE_FILE_PATH
    except ImportError:
        pytest.fail("axe-core is missing: pip install axe-playwright-python (setup.py extras 'test')")
    return AXE_FILE_PATH.read_text(encoding="utf-8")


def axe_run(page, name):
    """axe-core on the page as it is now: every violation (any impact), report saved."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    os.makedirs(ARTIFACTS, exist_ok=True)
    with open(os.path.join(ARTIFACTS, f"axe-{name}.json"), "w", encoding="utf-8") as out:
        json.dump({"url": results["url"], "axe": results["testEngine"]["version"],
                   "violations": results["violations"]}, out, indent=1)
    return results["violations"]


def describe(violations):
    return "\n".join(f"  {v['impact']}: {v['id']} ({v['help']}) at "
                     + ", ".join(" ".join(n["target"]) for n in v["nodes"][:5]) for v in violations)


def assert_accessible(page, name):
    """No serious or critical axe-core violation, at desktop and at phone width."""
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        violations = axe_run(page, f"{name}-{label}")
        blocking = [v for v in violations if v["impact"] in BLOCKING]
        assert not blocking, f"axe-core on {name} ({label}):\n{describe(blocking)}"
    page.set_viewport_size(DESKTOP)


# -- axe-core on every page ----------------------------------------------------------------------
def test_axe_recognise(page, server, clips):
    page.goto(server + "/")
    assert_accessible(page, "recognise")
    page.set_input_files("#file", str(clips["webm"]))
    wait_done(page)
    assert page.text_content("#song") == "song12"
    page.wait_for_selector("#plot-figure:not([hidden])")
    page.click("#candidates-box summary")
    assert_accessible(page, "recognise-match")
    page.evaluate("document.body.dataset.state = ''")
    page.set_input_files("#file", str(clips["unknown"]))
    wait_done(page)
    assert page.is_visible("#nomatch")
    assert_accessible(page, "recognise-nomatch")


def test_axe_library(page, server):
    page.goto(server + "/library")
    assert_accessible(page, "library")
    page.goto(server + "/library?search=song1")
    assert_accessible(page, "library-search")
    page.goto(server + "/library?search=nothing-like-this")
    assert_accessible(page, "library-empty-search")


def test_axe_compare(page, server, speech_pair):
    page.goto(server + "/compare")
    assert_accessible(page, "compare")
    if page.locator("#unavailable").count():
        pytest.skip("recognizers.speech is not installed: the result table was not checked")
    page.set_input_files("#recording", str(speech_pair["recording"]))
    page.set_input_files("#original", str(speech_pair["original"]))
    page.click("#compare-button")
    page.wait_for_selector("#compare-result:not([hidden])", timeout=60000)
    page.wait_for_selector("#timeline-figure:not([hidden])")
    assert_accessible(page, "compare-result")


def test_axe_error_page(page, server):
    page.goto(server + "/no-such-page")
    assert_accessible(page, "error")


def test_axe_fails_on_a_serious_violation(page, server):
    """The check itself: a form control without a label (critical) and text with
    too little contrast (serious) must each fail it."""
    page.goto(server + "/")
    page.evaluate("document.querySelector('main').append(document.createElement('select'))")
    with pytest.raises(AssertionError, match="critical: select-name"):
        assert_accessible(page, "selftest-label")
    page.goto(server + "/")
    page.evaluate("""() => { const p = document.createElement('p'); p.textContent = 'faint';
                             p.style.color = '#ddd'; document.querySelector('main').append(p); }""")
    with pytest.raises(AssertionError, match="serious: color-contrast"):
        assert_accessible(page, "selftest-contrast")
