"""The timeline of an uploaded long recording: the JSON API (Flask's test
client) and the page's bar of coloured segments (headless Chromium)."""
import os

import pytest
from audiogen import write_wav
from mixgen import RATE, build_mix
from test_browser import browser, page, server, shoot, wait_done  # noqa: F401 (fixtures)

TOLERANCE = 1.5      # s


@pytest.fixture(scope="module")
def long_mix(tmp_path_factory):
    mix, truth = build_mix()
    return write_wav(tmp_path_factory.mktemp("mix") / "mix.wav", mix, RATE), truth


def test_the_api_returns_the_timeline(make_app, long_mix):
    path, truth = long_mix
    client = make_app(max_upload_mb=20).test_client()
    with open(path, "rb") as f:
        response = client.post("/api/recognize?timeline=1", data={"file": (f, "mix.wav")})
    assert response.status_code == 200
    body = response.get_json()
    assert body["path"] == "mix.wav" and body["match"] is not None     # the usual answer, plus the timeline
    assert [e["song_name"] for e in body["timeline"]] == ["song11", "song13", "song15"]
    for e, (start, end, _, _) in zip(body["timeline"], truth):
        assert abs(e["start_seconds"] - start) <= TOLERANCE and abs(e["end_seconds"] - end) <= TOLERANCE
    assert len(body["gaps"]) == 4 and body["duration_seconds"] == pytest.approx(truth[-1][1] + 5.0, abs=0.1)
    assert all("source_path" not in e for e in body["timeline"])      # the server's paths stay hidden
    with open(path, "rb") as f:
        plain = client.post("/api/recognize", data={"file": (f, "mix.wav")}).get_json()
    assert "timeline" not in plain


@pytest.mark.browser
@pytest.mark.slow
def test_the_page_shows_a_long_upload_as_a_timeline(page, server, long_mix):  # noqa: F811
    path, truth = long_mix
    page.goto(server + "/")
    page.set_input_files("#file", os.fspath(path))
    wait_done(page)
    page.wait_for_selector("#timeline-box:not([hidden])")
    segments = page.query_selector_all("#timeline-bar .segment")
    assert [s.text_content() for s in segments] == ["song11", "song13", "song15"]
    width = page.evaluate("document.getElementById('timeline-bar').getBoundingClientRect().width")
    total = truth[-1][1] + 5.0
    for s, (start, end, _, _) in zip(segments, truth):
        box = s.bounding_box()
        bar = page.query_selector("#timeline-bar").bounding_box()
        assert abs((box["x"] - bar["x"]) / width * total - start) <= TOLERANCE + 0.5
        assert abs(box["width"] / width * total - (end - start)) <= 2 * TOLERANCE + 0.5
    colours = {s.evaluate("e => getComputedStyle(e).backgroundColor") for s in segments}
    assert len(colours) == 3                                          # one colour per song
    assert len(page.query_selector_all("#timeline-rows tr")) == 3
    shoot(page, "recognise-timeline")
