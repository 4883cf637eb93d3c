"""``dejavu-cn plot timeline``: the JSON of ``recognize file --timeline --json`` drawn as a bar."""
import json

import pytest

from clirun import run

pytest.importorskip("matplotlib")

RESULT = {"path": "/music/mix.mp3", "duration_seconds": 300.0, "windows": 99,
          "timeline": [{"start_seconds": 10.0, "end_seconds": 80.5, "song_id": 3, "song_name": "Awakening",
                        "source_path": "/music/a.ogg", "offset_seconds": 12.0, "confidence": 1.0},
                       {"start_seconds": 120.0, "end_seconds": 121.5, "song_id": 9, "song_name": "A short one",
                        "source_path": "/music/b.ogg", "offset_seconds": 0.0, "confidence": 0.5}],
          "gaps": [{"start_seconds": 0.0, "end_seconds": 10.0}]}


def test_the_timeline_is_drawn(tmp_path):
    source = tmp_path / "result.json"
    source.write_text("progress line\n" + json.dumps(RESULT) + "\n")
    code, out, err = run("plot", "timeline", str(source), "-o", str(tmp_path / "t.png"), "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["entries"] == 2 and info["width_px"] == 1200 and info["height_px"] == 300
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_not_a_timeline_is_refused(tmp_path):
    source = tmp_path / "other.json"
    source.write_text(json.dumps({"match": None}))
    code, _, err = run("plot", "timeline", str(source), "-o", str(tmp_path / "t.png"))
    assert code == 1 and "timeline" in err


@pytest.mark.parametrize("result,said", [
    ({"path": "mix.wav", "error": "cannot decode mix.wav"}, "an error: cannot decode mix.wav"),
    ({"timeline": [{"start_seconds": 1.0}]}, "every timeline entry needs"),
    ({"timeline": "nonsense"}, "every timeline entry needs"),
])
def test_an_error_line_or_broken_entries_are_refused_with_a_line(tmp_path, result, said):
    source = tmp_path / "bad.json"
    source.write_text(json.dumps(result))
    code, _, err = run("plot", "timeline", str(source), "-o", str(tmp_path / "t.png"))
    assert code == 1 and said in err and "Traceback" not in err and not (tmp_path / "t.png").exists()
