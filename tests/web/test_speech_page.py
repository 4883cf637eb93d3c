"""The Compare speech page in real headless Chromium (the set-up of
test_browser.py): each sentence's method in a user's words, the nearest place
of a sentence not found, and the ▶ buttons that play a sentence of the
recording or its stretch of the original from the uploaded files.

The pair of files is ``speech_pair`` (tests/web/conftest.py): sentences 0
and 1 of the recording are sentences 0 and 2 of the original, sentence 2 is
not in it.
"""
import time

import pytest

from test_a11y import assert_accessible
# the server and browser fixtures of test_browser.py (a server of this module's own)
from test_browser import browser, page, server  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STOP_SLACK = 0.3     # s: how far past a stretch's end playback may be seen to stop (timer and audio clock)


def fmt(seconds):
    """The page's m:ss.s (DJ.fmtTimeTenths)."""
    tenths = round(max(0.0, seconds) * 10)
    return f"{tenths // 600}:{(tenths % 600) / 10:04.1f}"


def span(start, end):
    return f"{fmt(start)}–{fmt(end)}"


def api_compare(page, server, pair):
    """The JSON the page was given for the same two files (its sentences and uncovered parts)."""
    files = {key: {"name": pair[key].name, "mimeType": "audio/wav", "buffer": pair[key].read_bytes()}
             for key in ("recording", "original")}
    response = page.request.post(server + "/api/compare", multipart=files)
    assert response.status == 200, response.text()
    body = response.json()
    return body["sentences"], body["uncovered"]


def compare(page, server, pair):
    page.goto(server + "/compare")
    if page.locator("#unavailable").count():
        pytest.skip("recognizers.speech is not installed")
    page.set_input_files("#recording", str(pair["recording"]))
    page.set_input_files("#original", str(pair["original"]))
    page.click("#compare-button")
    page.wait_for_selector("#compare-result:not([hidden])", timeout=60000)


def player(page, name):
    return page.evaluate(f"""(() => {{ const a = document.getElementById('{name}-player');
        return {{paused: a.paused, time: a.currentTime, src: a.currentSrc}}; }})()""")


def wait_for(page, script, seconds=10.0):
    """Waits until ``script`` (an expression) is true in the page. The page's
    CSP has no 'unsafe-eval', so Playwright's wait_for_function cannot run
    there: this polls with evaluate."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(f"() => Boolean({script})"):
        assert time.monotonic() < deadline, f"timed out waiting for {script}"
        time.sleep(0.02)


def wait_paused(page, name, seconds):
    wait_for(page, f"document.getElementById('{name}-player').paused", seconds + 5)


def test_method_in_words_and_the_nearest_place(page, server, speech_pair):
    expected, uncovered = api_compare(page, server, speech_pair)
    compare(page, server, speech_pair)
    assert [s["verdict"] for s in expected] == ["same", "same", "not_found"]
    assert page.locator("#sentences td.method").all_text_contents() == [s["method_label"] for s in expected]
    assert expected[2]["method"] == "mfcc_dtw" and expected[2]["method_label"] == "voice match (MFCC + DTW)"
    assert "mfcc_dtw" not in page.text_content("#compare-result")
    assert page.locator("#sentence-table th").last.text_content() == "Found by"

    nearest = expected[2]["nearest"]
    rows = page.locator("#sentences tr")
    assert rows.nth(0).locator(".nearest").count() == 0 and rows.nth(1).locator(".nearest").count() == 0
    cell = rows.nth(2).locator("td.orig")
    assert cell.locator(".nearest").is_visible()
    text = " ".join(cell.text_content().split())
    assert text == (f"nearest: ▶{span(nearest['original_start'], nearest['original_end'])} "
                    f"sentence {nearest['original_index']}, distance {nearest['distance']:.2f}")
    assert rows.nth(2).locator("td.similarity").text_content() == f"{round(nearest['similarity'] * 100)} %"
    button = cell.get_by_role("button", name="Play the nearest place in the original at "
                                             + span(nearest["original_start"], nearest["original_end"]))
    assert button.count() == 1


def test_the_parts_of_the_original_not_heard_can_be_played(page, server, speech_pair):
    _, uncovered = api_compare(page, server, speech_pair)
    compare(page, server, speech_pair)
    assert [u["index"] for u in uncovered] == [1, 3]
    buttons = page.locator("#uncovered button.play")
    names = [f"Play original sentence {u['index']} at {span(u['start'], u['end'])}" for u in uncovered]
    assert [buttons.nth(i).get_attribute("aria-label") for i in range(buttons.count())] == names
    page.get_by_role("button", name=names[1]).click()
    wait_for(page, "!document.getElementById('original-player').paused")
    assert uncovered[1]["start"] - 0.05 <= player(page, "original")["time"] < uncovered[1]["end"]
    page.get_by_role("button", name=names[1]).click()
    wait_paused(page, "original", 1)


def test_play_a_sentence_and_its_place_in_the_original(page, server, speech_pair):
    expected, uncovered = api_compare(page, server, speech_pair)
    compare(page, server, speech_pair)
    # every sentence has a labelled ▶ for the recording, and one for the original (its place or its nearest)
    for s in expected:
        name = f"Play sentence {s['index']} at {span(s['start'], s['end'])}"
        assert page.get_by_role("button", name=name).count() == 1
    assert page.locator("#sentences button.play[data-file='original']").count() == 3

    s = expected[1]                                                  # recording 3.8 s, original 7.1 s
    button = page.get_by_role("button", name=f"Play sentence 1 at {span(s['start'], s['end'])}")
    button.click()
    wait_for(page, "!document.getElementById('recording-player').paused"
                           " && document.getElementById('recording-player').currentTime > 0")
    now = player(page, "recording")
    assert now["src"].startswith("blob:")                             # the uploaded file, not a download
    assert s["start"] - 0.05 <= now["time"] < s["end"]
    assert button.get_attribute("aria-pressed") == "true"
    assert player(page, "original")["paused"]
    wait_paused(page, "recording", s["end"] - s["start"])
    end = player(page, "recording")["time"]
    assert s["end"] - 0.05 <= end <= s["end"] + STOP_SLACK, f"stopped at {end}, stretch ends at {s['end']}"
    assert button.get_attribute("aria-pressed") == "false"

    # the original's stretch, by keyboard; a second press stops it
    label = f"Play the original at {span(s['original_start'], s['original_end'])}"
    original = page.get_by_role("button", name=label)
    original.focus()
    page.keyboard.press("Enter")
    wait_for(page, "!document.getElementById('original-player').paused")
    now = player(page, "original")
    assert now["src"].startswith("blob:")
    assert s["original_start"] - 0.05 <= now["time"] < s["original_end"]
    assert original.get_attribute("aria-pressed") == "true"
    page.keyboard.press("Space")
    wait_paused(page, "original", 1)
    assert original.get_attribute("aria-pressed") == "false"
    assert player(page, "original")["time"] < s["original_end"]


def test_one_stretch_plays_at_a_time_and_the_page_stays_accessible(page, server, speech_pair):
    compare(page, server, speech_pair)
    first = page.locator("#sentences tr").nth(0).locator("button.play[data-file='recording']")
    nearest = page.locator("#sentences .nearest button.play")
    first.click()
    wait_for(page, "!document.getElementById('recording-player').paused")
    nearest.click()                                                  # replaces the sentence being played
    wait_for(page, "!document.getElementById('original-player').paused")
    assert player(page, "recording")["paused"]
    assert first.get_attribute("aria-pressed") == "false" and nearest.get_attribute("aria-pressed") == "true"
    start = float(nearest.get_attribute("data-start"))
    assert player(page, "original")["time"] >= start - 0.05
    assert page.text_content("#play-status") == ""
    assert_accessible(page, "compare-playing")
    nearest.click()
    wait_paused(page, "original", 1)


def test_a_file_the_browser_cannot_play_is_said_so(page, server, speech_pair):
    compare(page, server, speech_pair)
    page.evaluate("""() => { document.getElementById('recording-player').src =
        URL.createObjectURL(new Blob(['not audio'], {type: 'audio/wav'})); }""")
    button = page.locator("#sentences button.play[data-file='recording']").first
    button.click()
    page.wait_for_selector("#play-status.error")
    assert page.text_content("#play-status").startswith("This browser cannot play the recording")
    assert button.get_attribute("aria-pressed") == "false"
