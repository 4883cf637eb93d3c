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

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

# the server and browser fixtures of test_browser.py (a server of this module's own)
from test_browser import ARTIFACTS, DESKTOP, PHONE, api_total, browser, page, server, wait_done  # noqa: F401
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
    page.set_viewport_size(NARROW)
    assert_fits(page, "compare-result")


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


# -- labels -------------------------------------------------------------------------------------
@pytest.mark.parametrize("path, controls", [
    ("/", {"Drop an audio file here": "#file"}),
    ("/library", {"Library token": "#token", "Audio files": "#files", "Search songs": "input[name=search]"}),
    ("/compare", {"Recording": "#recording", "Original": "#original"}),
])
def test_form_controls_have_labels(page, server, path, controls):
    page.goto(server + path)
    for label, selector in controls.items():
        assert page.get_by_label(label).evaluate("(el, sel) => el.matches(sel)", selector), label
    unnamed = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea, button')]
        .filter((el) => el.type !== 'hidden' && !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                        && !el.getAttribute('aria-labelledby') && !el.textContent.trim())
        .map((el) => el.outerHTML)""")
    assert unnamed == []


# -- visible keyboard focus ------------------------------------------------------------------------
FOCUS_RING = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const box = el.getBoundingClientRect();
  const own = getComputedStyle(el);
  // an input drawn invisibly inside its label (the drop zone) shows its focus on the label
  const shown = (own.opacity === '0' || box.width <= 1 || box.height <= 1) && el.labels && el.labels.length
    ? el.labels[0] : el;
  const s = getComputedStyle(shown);
  const ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2) || s.boxShadow !== 'none';
  return {what: el.id || el.name || el.tagName + ' ' + el.textContent.trim().slice(0, 20), ring};
}"""


def tab_through(page, stops=40):
    """Tab from the top of the page: every focused element and whether it shows a focus ring."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    seen = []
    for _ in range(stops):
        page.keyboard.press("Tab")
        state = page.evaluate(FOCUS_RING)
        if state is None or (seen and state == seen[0]):
            break
        seen.append(state)
    return seen


@pytest.mark.parametrize("path", ["/", "/library", "/compare"])
def test_keyboard_focus_is_visible(page, server, path):
    page.goto(server + path)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.screenshot(path=os.path.join(ARTIFACTS, f"focus-skip-link{path.replace('/', '-')}.png"))
    seen = tab_through(page)
    assert len(seen) >= 4
    assert [s["what"] for s in seen if not s["ring"]] == []


def test_keyboard_choose_file_then_focus_on_the_result(page, server, clips):
    page.goto(server + "/")
    page.wait_for_load_state()
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "file":
            break
    assert page.evaluate("document.activeElement.id") == "file"      # reachable by keyboard
    assert page.evaluate(FOCUS_RING)["ring"]                          # and the drop zone shows it
    page.screenshot(path=os.path.join(ARTIFACTS, "focus-drop-zone.png"))
    page.evaluate("window.clicks = 0; document.getElementById('file').addEventListener('click', () => window.clicks++)")
    try:
        with page.expect_file_chooser(timeout=5000) as chooser:
            page.keyboard.press("Space")                              # Space opens the file chooser
        chooser.value.set_files(str(clips["webm"]))
    except PlaywrightTimeout:
        # headless Chromium now and then loses the chooser event (about 1 run in 4 here); the
        # key did activate the control, which is what is ours to test
        assert page.evaluate("window.clicks") == 1
        page.set_input_files("#file", str(clips["webm"]))
    wait_done(page)
    assert page.evaluate("document.activeElement.id") == "song"       # focus moves to the answer
    assert page.evaluate(FOCUS_RING)["ring"]
    page.evaluate("document.body.dataset.state = ''")
    page.set_input_files("#file", str(clips["unknown"]))
    wait_done(page)
    assert page.evaluate("document.activeElement.id") == "nomatch-title"


# -- status messages: success is not red, failure is not only a colour ---------------------------
def status_look(page, selector):
    return page.evaluate("""(sel) => { const el = document.querySelector(sel);
        const before = getComputedStyle(el, '::before').content;
        return {cls: el.className, color: getComputedStyle(el).color, role: el.getAttribute('role'),
                marker: before && before !== 'none' ? before : ''}; }""", selector)


DANGER = "rgb(198, 47, 47)"


def test_register_updates_the_list_and_is_not_shown_as_an_error(page, server, clips, tmp_path):
    before = api_total(page, server)
    song = tmp_path / "a11y-new-song.wav"
    shutil.copy(clips["unknown"], song)
    text = tmp_path / "a11y-notes.mp3"
    text.write_text("not audio\n" * 100)
    page.goto(server + "/library")
    page.evaluate("window.notReloaded = true")
    assert page.text_content("#total").strip() == f"{before} songs"
    page.fill("#token", TOKEN)
    page.set_input_files("#files", [str(song)])
    page.focus("#upload")
    page.keyboard.press("Enter")
    page.wait_for_selector("#uploads li.ok")
    page.wait_for_selector("#manage-status.ok")
    look = status_look(page, "#manage-status")
    assert look["color"] != DANGER and look["role"] == "status" and look["marker"]
    assert page.text_content("#total").strip() == f"{before + 1} songs"      # counts current, in place
    assert page.locator("#songs tbody tr", has_text="a11y-new-song").count() == 1
    assert page.evaluate("window.notReloaded") is True                       # the status stays readable
    assert page.evaluate("document.activeElement.id") == "upload"             # focus not lost to <body>
    assert_accessible(page, "library-uploaded")

    page.set_input_files("#files", [str(song), str(text)])                  # known + broken: mixed
    page.click("#upload")
    page.wait_for_selector("#uploads li.error")
    page.wait_for_selector("#manage-status:not(.busy):not(:empty)")
    look = status_look(page, "#manage-status")
    assert "failed" in page.text_content("#manage-status") and look["marker"]
    assert page.text_content("#total").strip() == f"{before + 1} songs"
    sid = page.locator("#songs tbody tr", has_text="a11y-new-song").get_attribute("data-song-id")
    page.request.delete(f"{server}/api/songs/{sid}", headers={"X-Dejavu-Token": TOKEN})


def test_delete_updates_counts_and_keeps_focus(page, server, tmp_path):
    from audiogen import make_song, write_wav
    before = api_total(page, server)
    for seed in (97, 98):
        path = write_wav(tmp_path / f"a11y-delete-{seed}.wav", make_song(seed, 6.0))
        with open(path, "rb") as f:
            r = page.request.post(f"{server}/api/songs", headers={"X-Dejavu-Token": TOKEN},
                                  multipart={"files": {"name": path.name, "mimeType": "audio/wav", "buffer": f.read()}})
        assert r.status == 201
    page.goto(server + "/library")
    assert page.text_content("#total").strip() == f"{before + 2} songs"
    page.fill("#token", TOKEN)
    rows = page.locator("#songs tbody tr")
    names = rows.locator("td.name").all_text_contents()
    first = names.index("a11y-delete-97")
    rows.nth(first).locator("button.delete").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#manage-status.ok")
    look = status_look(page, "#manage-status")
    assert look["color"] != DANGER and look["marker"]
    assert page.text_content("#total").strip() == f"{before + 1} songs"
    # focus goes to the next row's Delete button, not back to <body>
    focused = page.evaluate("document.activeElement.closest('tr') && document.activeElement.closest('tr')"
                            ".querySelector('td.name').textContent")
    assert focused == names[first + 1]
    assert page.evaluate(FOCUS_RING)["ring"]
    sid = page.locator("#songs tbody tr", has_text="a11y-delete-98").get_attribute("data-song-id")
    page.request.delete(f"{server}/api/songs/{sid}", headers={"X-Dejavu-Token": TOKEN})
    assert api_total(page, server) == before


def test_error_status_is_marked_not_only_by_colour(page, server):
    page.goto(server + "/library")
    page.click("#upload")
    look = status_look(page, "#manage-status")
    assert "error" in look["cls"] and look["color"] == DANGER and look["marker"]


# -- narrow screens ---------------------------------------------------------------------------------
def assert_fits(page, name):
    overflow = page.evaluate("""() => [document.documentElement.scrollWidth, window.innerWidth,
        [...document.querySelectorAll('main *, header *')].filter((el) => {
            const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
            // the candidates table may scroll sideways in its own (focusable) region; the song
            // list and the sentence table are laid out as lists on a phone and must fit
            const scroller = el.closest('#candidates-box .table-scroll');
            return r.width && s.visibility !== 'hidden' && !scroller && (r.right > window.innerWidth + 1 || r.left < -1);
        }).map((el) => el.tagName + '#' + el.id + '.' + el.className).concat(
        [...document.querySelectorAll('.table-scroll')].filter((el) => !el.closest('#candidates-box')
            && el.scrollWidth > el.clientWidth + 1).map((el) => 'clipped in ' + (el.getAttribute('aria-label') || el.getAttribute('aria-labelledby'))))]""")
    page.screenshot(path=os.path.join(ARTIFACTS, f"narrow-{name}.png"), full_page=True)
    assert overflow[0] <= overflow[1] and overflow[2] == [], f"{name}: {overflow}"


def test_narrow_width(page, server, clips):
    page.set_viewport_size(NARROW)
    for path, name in (("/", "recognise"), ("/library", "library"), ("/compare", "compare"),
                       ("/library?search=song&page=1", "library-search")):
        page.goto(server + path)
        assert_fits(page, name)
    page.goto(server + "/")
    page.set_input_files("#file", str(clips["webm"]))
    wait_done(page)
    page.click("#candidates-box summary")
    assert_fits(page, "recognise-match")
    assert page.locator("#record").bounding_box()["width"] <= NARROW["width"]
