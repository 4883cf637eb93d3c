"""The speech package's shape and the speech items of the first-hour issue:
cheap imports and no global matplotlib backend, the ``speech`` section's
checks, one segmentation shared by ``segment`` and ``compare``, the nearest
place of a sentence not found, method names in words, and placements in
seconds that do not move with the hop or the sample rate."""
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dejavu_cn.cli import main
from dejavu_cn.errors import ConfigError
from recognizers.speech import METHOD_LABELS, SpeechParams, compare_files, compare_samples

ROOT = Path(__file__).resolve().parents[2]
RATE = 16000          # Hz of the generated files


def run_python(code):
    """Run ``code`` in a fresh interpreter (so sys.modules starts empty)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_speech_section_is_read_without_numpy_and_compare_without_matplotlib():
    out = run_python(
        "import sys\n"
        "from recognizers.speech_cli import CONFIG_SECTIONS\n"
        "section = CONFIG_SECTIONS['speech']()\n"
        "print('numpy' in sys.modules, section is __import__('recognizers.speech.params', fromlist=['x']).SpeechParams)\n"
        "from recognizers.speech import compare_files, compare_samples\n"
        "print('matplotlib' in sys.modules)\n")
    assert out.split() == ["False", "True", "False"]


def test_plot_uses_no_pyplot_and_never_switches_the_backend():
    out = run_python(
        "import io, sys\n"
        "import matplotlib\n"
        "def refuse(*args, **kwargs):\n"
        "    raise AssertionError('matplotlib.use called')\n"
        "matplotlib.use = refuse\n"
        "from recognizers.speech import plot_timeline\n"
        "result = {'recording_seconds': 3.0, 'original_seconds': 4.0, 'counts': {'same': 1},\n"
        "          'sentences': [{'index': 0, 'start': 0.5, 'end': 2.0, 'verdict': 'same',\n"
        "                         'original_start': 1.0, 'original_end': 2.5}],\n"
        "          'original_sentences': [{'index': 0, 'start': 1.0, 'end': 2.5}], 'uncovered': []}\n"
        "buffer = io.BytesIO()\n"
        "plot_timeline(result, buffer)\n"
        "print(buffer.getvalue()[:4] == b'\\x89PNG', 'matplotlib.pyplot' in sys.modules)\n")
    assert out.split() == ["True", "False"]


# -- the speech section -------------------------------------------------------------------------------
def test_speech_params_fields_are_the_section_keys_and_frozen():
    from dataclasses import FrozenInstanceError, fields

    from recognizers.speech_cli import CONFIG_SECTIONS
    assert CONFIG_SECTIONS["speech"]() is SpeechParams and fields(SpeechParams)
    with pytest.raises(FrozenInstanceError):
        SpeechParams().hop_ms = 10.0


@pytest.mark.parametrize("values, message", [
    ({"z_none": 7.0}, r"speech\.z_none: need z_none < z_full"),
    ({"hop_ms": 30.0}, r"speech\.hop_ms"),
    ({"warps": (0.2,)}, r"speech\.warps"),
    ({"same_threshold": 1.5}, r"speech\.same_threshold"),
])
def test_validate_names_the_key(values, message):
    with pytest.raises(ConfigError, match=message):
        SpeechParams(**values).validate()


def test_from_dict_checks_keys_and_types_as_the_configuration_does():
    with pytest.raises(ConfigError, match=r"unknown key 'speech.z_nome' \u2014 did you mean 'speech.z_none'\?"):
        SpeechParams.from_dict({"z_nome": 1.0})
    with pytest.raises(ConfigError, match=r"'speech.n_mels' must be"):
        SpeechParams.from_dict({"n_mels": "many"})
    params = SpeechParams.from_dict({"warps": [1, 1.1], "n_mels": 30.0})
    assert params.warps == (1.0, 1.1) and params.n_mels == 30 and isinstance(params.n_mels, int)
    assert SpeechParams.from_dict(None) == SpeechParams()


def test_frame_samples_follow_the_rate():
    p = SpeechParams()
    assert p.frame_samples(11025) == (276, 220)         # 25 ms and 20 ms, rounded
    assert p.frame_samples(16000) == (400, 320)
    assert SpeechParams(frame_ms=30.0, hop_ms=10.0).frame_samples(8000) == (240, 80)


# -- comparisons of generated "speech" ----------------------------------------------------------------
def _pair(rate, *, stretch=None):
    """An original of four 2.5 s bursts between 0.8 s silences, and a
    recording of burst 2 (slowed by ``stretch``, e.g. (21, 20): 5 %, which
    the fingerprint does not survive) and an unrelated burst."""
    from scipy.signal import resample_poly

    from audiogen import make_song
    parts = [make_song(30 + i, 2.5, rate=rate) for i in range(4)]
    gap = np.zeros(int(0.8 * rate), np.float32)

    def join(pieces):
        return np.concatenate([gap] + [x for p in pieces for x in (p, gap)]).astype(np.float32)
    copied = parts[2] if stretch is None else resample_poly(parts[2], *stretch).astype(np.float32)
    return join([copied, make_song(77, 2.5, rate=rate)]), join(parts)


def _wav(path, x, rate):
    from scipy.io import wavfile
    wavfile.write(path, rate, (np.clip(x, -1, 1) * 32767).astype("<i2"))
    return str(path)


def test_segment_and_compare_list_the_same_sentences(tmp_path, monkeypatch):
    """One segmentation: ``compare`` judges exactly the sentences ``segment``
    lists (they used to be cut at 11025 Hz by one and 16 kHz by the other)."""
    monkeypatch.chdir(tmp_path)
    rate = 44100
    recording, original = _pair(rate)
    recording_path = _wav(tmp_path / "talk.wav", recording, rate)
    original_path = _wav(tmp_path / "original.wav", original, rate)

    def run(*argv):
        out, err = io.StringIO(), io.StringIO()
        assert main([*argv, "--json"], stdout=out, stderr=err) == 0, err.getvalue()
        return json.loads(out.getvalue())
    spans = lambda rows: [(s["start"], s["end"], s["duration"]) for s in rows]         # noqa: E731
    compared = run("compare", recording_path, "--original", original_path, "--padding-ms", "150")
    assert spans(compared["sentences"]) == spans(run("segment", recording_path, "--padding-ms", "150")["sentences"])
    assert (spans(compared["original_sentences"])
            == spans(run("segment", original_path, "--padding-ms", "150")["sentences"]))
    assert [s["verdict"] for s in compared["sentences"]] == ["same", "not_found"]


def test_not_found_names_the_nearest_place_and_its_distance(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recording, original = _pair(RATE, stretch=(21, 20))
    result = compare_samples(recording, original, RATE)
    stretched, foreign = result["sentences"]
    assert [stretched["verdict"], foreign["verdict"]] == ["not_found", "not_found"]
    assert stretched["original_start"] is None                       # not placed: the plot draws no line
    nearest = stretched["nearest"]
    assert nearest["original_start"] == pytest.approx(7.4, abs=0.1)  # burst 2 starts at 0.8 + 2 * 3.3 s
    assert nearest["original_end"] > nearest["original_start"] and nearest["original_index"] == 2
    assert nearest["similarity"] == stretched["similarity"] < 0.5 and nearest["distance"] > 0
    assert nearest["distance"] < foreign["nearest"]["distance"]      # the copy is nearer than the stranger
    json.dumps(result)

    out, err = io.StringIO(), io.StringIO()
    args = ["compare", _wav(tmp_path / "talk.wav", recording, RATE), "--original",
            _wav(tmp_path / "original.wav", original, RATE)]
    assert main(args, stdout=out, stderr=err) == 0, err.getvalue()
    lines = out.getvalue().splitlines()
    assert "not found; nearest: original 0:07." in lines[1] and "(sentence 2)" in lines[1]
    assert "distance" in lines[1]


def test_methods_are_named_in_words(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert set(METHOD_LABELS) == {"fingerprint", "fingerprint+dtw", "mfcc_dtw"}
    recording, original = _pair(RATE)
    result = compare_samples(recording, original, RATE)
    assert [s["method_label"] for s in result["sentences"]] == [METHOD_LABELS["fingerprint"],
                                                                METHOD_LABELS["mfcc_dtw"]]
    out, err = io.StringIO(), io.StringIO()
    args = ["compare", _wav(tmp_path / "talk.wav", recording, RATE), "--original",
            _wav(tmp_path / "original.wav", original, RATE)]
    assert main(args, stdout=out, stderr=err) == 0, err.getvalue()
    assert "mfcc_dtw" not in out.getvalue() and f"({METHOD_LABELS['fingerprint']})" in out.getvalue()


@pytest.mark.parametrize("rate, hop_ms", [(11025, 20.0), (16000, 10.0)])
def test_placement_in_seconds_does_not_move_with_hop_or_rate(rate, hop_ms):
    """DTW's frames are converted to seconds with the hop at the rate in
    use: a slowed copy's nearest place is the same at every setting."""
    recording, original = _pair(rate, stretch=(21, 20))
    result = compare_samples(recording, original, rate, config={"fingerprint": {"sample_rate": rate}},
                             speech_params={"hop_ms": hop_ms})
    nearest = result["sentences"][0]["nearest"]
    assert nearest["original_start"] == pytest.approx(7.4, abs=0.05)
    assert nearest["original_end"] - nearest["original_start"] == pytest.approx(2.5, abs=0.3)
    assert result["parameters"]["sample_rate"] == rate


def test_compare_files_decodes_for_the_shared_segmentation(tmp_path, monkeypatch):
    """Files are cut where ``segment`` cuts them even when the fingerprint
    rate differs: the segmentation comes from the 16 kHz decoding."""
    monkeypatch.chdir(tmp_path)
    from segmenter import find_sentences
    from dejavu_cn.audio import decode_file
    recording, original = _pair(RATE)
    path = _wav(tmp_path / "talk.wav", recording, RATE)
    result = compare_files(path, _wav(tmp_path / "original.wav", original, RATE))
    assert result["parameters"]["segment_rate"] == RATE != result["parameters"]["sample_rate"]
    expected = find_sentences(decode_file(path, target_rate=RATE), RATE).to_list()
    assert [{k: s[k] for k in ("index", "start", "end", "duration")} for s in result["sentences"]] == expected
