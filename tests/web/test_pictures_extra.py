"""Without matplotlib (the ``[plots]`` extra) the match picture is a 503
with a JSON error, not a 500, and a speech comparison comes without its
timeline; with it, the picture is drawn."""
import sys

import pytest


def upload(path):
    return {"file": (open(path, "rb"), "clip.wav")}


@pytest.fixture
def no_matplotlib(monkeypatch):
    """``import matplotlib`` fails, as on a server installed without [plots]."""
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)


def test_plots_available_checks_matplotlib(no_matplotlib):
    from web import pictures
    assert pictures.plots_available() is False
    assert "dejavu-cn[plots]" in pictures.PLOTS_MISSING


def test_match_picture_without_matplotlib_is_503(client, clips, no_matplotlib):
    response = client.post("/api/recognize/plot", data=upload(clips["wav"]))
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.is_json and "not available" in response.get_json()["error"]


def test_match_picture_with_matplotlib(client, clips):
    from web import pictures
    assert pictures.plots_available() is True
    response = client.post("/api/recognize/plot", data=upload(clips["wav"]))
    assert response.status_code == 200 and response.get_data()[:8] == b"\x89PNG\r\n\x1a\n"


def test_speech_timeline_without_matplotlib_is_left_out(no_matplotlib):
    from web import pictures

    class Speech:
        def plot_timeline(self, result, out):
            raise AssertionError("not drawn without matplotlib")
    assert pictures.speech_timeline(Speech(), {}) is None
