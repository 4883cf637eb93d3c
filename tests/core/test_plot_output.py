"""Plot captions and files (issue 26): the caption gives the verdict and
confidence ``recognize file`` gives, the zoomed song range reads "from -5 s
to 7 s" (not "-5-7 s"), and ``-o`` writes the format its extension names
(.png, .jpg, .svg, .pdf) or refuses it."""
import io
import json
import re

import numpy as np
import pytest

from audiogen import make_song, write_wav
from dejavu_cn import Dejavu, plots
from clirun import run
from dejavu_cn.config import FingerprintParams
from dejavu_cn.errors import ParameterError
from dejavu_cn.plots import (_zoom_label, fingerprint_data, image_format, match_data, match_verdict, plot_fingerprint,
                             plot_match)
from recognizers.file import FileRecognizer

P = FingerprintParams()
MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8\xff", "svg": b"<?xml", "pdf": b"%PDF"}


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """Two generated 20 s songs registered; a config file naming the database;
    a clip of song52 from 8 s and 5 s of audio from no song."""
    folder = tmp_path_factory.mktemp("captions")
    for seed in (51, 52):
        write_wav(folder / f"song{seed}.wav", make_song(seed, 20.0))
    db = folder / "db.sqlite3"
    with Dejavu({"database": {"path": str(db)}}) as djv:
        assert len(djv.register([str(folder)], jobs=1).outcomes) == 2
    config = folder / "config.json"
    config.write_text(json.dumps({"database": {"path": str(db)}}))
    clips = folder / "clips"
    clips.mkdir()
    known = write_wav(clips / "known.wav", make_song(52, 20.0)[44100 * 8:44100 * 13])
    unknown = write_wav(clips / "unknown.wav", make_song(98, 5.0))
    return {"db": str(db), "config": str(config), "known": str(known), "unknown": str(unknown)}


@pytest.fixture
def captions(monkeypatch):
    """The texts of every figure saved: suptitle and each axes' title."""
    seen = []
    real = plots._save

    def spy(fig, out, dpi):
        seen.append({"suptitle": fig._suptitle.get_text() if fig._suptitle else "",
                     "titles": [ax.get_title(loc="left") for ax in fig.axes]})
        return real(fig, out, dpi)
    monkeypatch.setattr(plots, "_save", spy)
    return seen


@pytest.mark.parametrize("clip", ["known", "unknown"])
def test_caption_gives_the_verdict_and_confidence_of_recognize_file(library, clip, captions, tmp_path):
    path = library[clip]
    code, recognised, err = run("--config", library["config"], "recognize", "file", path)
    assert code == 0, err
    verdict = recognised.split(": ", 1)[1].strip()          # "song52 (song 2) at 0:08.00, ..." or "no match (...)"
    code, plotted, err = run("--config", library["config"], "plot", "match", path, "-o", str(tmp_path / "m.png"))
    assert code == 0, err
    (figure,) = captions
    if clip == "unknown":
        best = re.fullmatch(r"no match \(best confidence (\d\.\d\d)\)", verdict)
        assert best, verdict
        assert plotted.rstrip().endswith(verdict)                       # the CLI's line
        assert figure["suptitle"] == f"unknown.wav: {verdict}"          # the picture's caption
        assert f"(confidence {best.group(1)})" in figure["titles"][0]   # the best candidate's row
    else:
        confidence = re.search(r"confidence (\d\.\d\d)", verdict).group(1)
        said = re.search(r"song52 at (\d+\.\d\d) s \(confidence (\d\.\d\d)\)$", plotted.rstrip())
        assert said and said.group(2) == confidence and abs(float(said.group(1)) - 8.0) <= 0.03   # one frame
        assert figure["suptitle"] == f"known.wav: recognised: {said.group(0)}"


def test_match_data_result_is_the_recognisers(library):
    with Dejavu({"database": {"path": library["db"]}}) as engine:
        for clip in ("known", "unknown"):
            expected = FileRecognizer(engine).recognize_file(library[clip])
            data = match_data(engine, engine.decode(library[clip]), top=2)
            keys = ("song_id", "confidence", "offset_seconds", "decided_by")
            assert ([{k: c[k] for k in keys} for c in data["result"]["candidates"]]
                    == [{k: c[k] for k in keys} for c in expected["candidates"]])
            assert [c["confidence"] for c in data["candidates"]] == \
                   [c["confidence"] for c in expected["candidates"][:2]]
            assert match_verdict(data["result"]).startswith("no match" if clip == "unknown" else "song52 at")


def test_match_verdict_words():
    assert match_verdict({"match": None, "candidates": []}) == "no match (best confidence 0.00)"
    assert match_verdict({"match": None, "candidates": [{"confidence": 0.1234}]}) == \
        "no match (best confidence 0.12)"
    assert match_verdict({"match": {"song_name": "a", "offset_seconds": 8.0, "confidence": 0.97},
                          "candidates": []}) == "a at 8.00 s (confidence 0.97)"


def test_zoomed_range_reads_from_to():
    assert _zoom_label(-5.2, 7.1) == "song zoomed from -5 s to 7 s"
    assert _zoom_label(-0.3, 4.6) == "song zoomed from 0 s to 5 s"               # no "-0"
    assert _zoom_label(12.0, 20.5) == "song zoomed from 12 s to 20 s"
    assert not re.search(r"\d-\d", _zoom_label(-5.2, 7.1))


def test_zoomed_range_in_the_picture(captions):
    """A candidate whose clip would start 3 s before the song: the scatter's
    title gives a negative start in words."""
    cand = {"song_name": "x", "confidence": 0.01, "offset_seconds": -3.0, "aligned": 1, "matches": 1,
            "histogram": {"bin_centres_seconds": [-3.0], "counts": [1], "bin_width_seconds": 0.0232},
            "peak": {"offset_seconds": -3.0, "count": 1, "background": 1.0},
            "points": {"query_seconds": [1.0], "song_seconds": [-2.0], "aligned": [True]}, "points_total": 1}
    data = {"result": {"match": None, "candidates": [{"confidence": 0.01}]}, "clip_seconds": 5.0,
            "frame_seconds": 0.0232, "candidates": [cand]}
    plot_match(data, io.BytesIO(), width=5, height=3, dpi=40)
    titles = captions[0]["titles"]
    assert titles[1] == "1 matching hashes; song zoomed from -6 s to 4 s"     # -5.5 s to 4.5 s: 2.5 s of padding
    assert captions[0]["suptitle"] == "no match (best confidence 0.01)"


@pytest.mark.parametrize("name, fmt", [("x.png", "png"), ("x.jpg", "jpeg"), ("x.JPEG", "jpeg"), ("x.svg", "svg"),
                                       ("x.pdf", "pdf"), ("x", "png")])
def test_the_extension_names_the_format(tmp_path, name, fmt):
    data = fingerprint_data(make_song(3, 1.0, rate=P.sample_rate), P)
    out = tmp_path / name
    assert image_format(str(out)) == fmt
    plot_fingerprint(data, str(out), width=3, height=2, dpi=40)
    assert out.read_bytes().startswith(MAGIC[fmt])


def test_other_extensions_are_refused(tmp_path):
    assert image_format(io.BytesIO()) == "png"
    with pytest.raises(ParameterError, match=r"x\.gif.*\.png, \.jpg, \.jpeg, \.svg, \.pdf"):
        image_format(str(tmp_path / "x.gif"))
    data = fingerprint_data(np.zeros(P.sample_rate, np.float32), P)
    with pytest.raises(ParameterError):
        plot_fingerprint(data, str(tmp_path / "x.gif"))
    assert not (tmp_path / "x.gif").exists()


def test_cli_writes_the_format_the_extension_asks_for(library, tmp_path):
    out = tmp_path / "fp.jpg"
    code, stdout, err = run("--config", library["config"], "plot", "fingerprint", library["known"], "--duration", "2",
                            "-o", str(out))
    assert code == 0, err
    assert out.read_bytes().startswith(MAGIC["jpeg"]) and "wrote" in stdout
    code, stdout, err = run("--config", library["config"], "plot", "match", library["known"],
                            "-o", str(tmp_path / "m.svg"))
    assert code == 0, err
    assert (tmp_path / "m.svg").read_bytes().startswith(MAGIC["svg"])
    code, stdout, err = run("--config", library["config"], "plot", "fingerprint", library["known"],
                            "-o", str(tmp_path / "fp.gif"))
    assert code == 2 and "fp.gif" in err and ".jpg" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "fp.gif").exists()
