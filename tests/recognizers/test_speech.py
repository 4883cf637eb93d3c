"""The speech recogniser: DSP units with known answers, the issue's four
figures on a small generated corpus (real speech from Debian's
asterisk-core-sounds-en-gsm, re-spoken by espeak-ng), errors, the plot and
the ``compare`` command in-process."""
import importlib.util
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dejavu_cn.cli import main
from dejavu_cn.errors import AudioDecodeError, ConfigError, ParameterError, RecognitionError
from recognizers.speech import (SpeechParams, compare_files, compare_samples, mel_filterbank, mfcc, plot_timeline,
                                subsequence_dtw)

ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def load_bench():
    spec = importlib.util.spec_from_file_location("speech_bench", ROOT / "bench" / "speech.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def need_corpus_tools():
    missing = [] if shutil.which("espeak-ng") else ["espeak-ng"]
    try:
        subprocess.run(["dpkg", "-s", "asterisk-core-sounds-en-gsm"], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        missing.append("asterisk-core-sounds-en-gsm")
    if missing:
        message = f"apt-get install {' '.join(missing)}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


# -- units ---------------------------------------------------------------------------------
def test_mel_filterbank_triangles_cover_the_band():
    bank = mel_filterbank(11025, 512, n_mels=20, min_hz=100.0, max_hz=4500.0)
    assert bank.shape == (20, 257)
    assert bank.min() >= 0.0 and bank.max() <= 1.0 + 1e-12
    peaks = bank.argmax(axis=1) * 11025 / 512
    assert np.all(np.diff(peaks) > 0) and 100 < peaks[0] < 250 and 4000 < peaks[-1] < 4500
    warped = mel_filterbank(11025, 512, n_mels=20, min_hz=100.0, max_hz=4500.0, warp=1.2)
    assert warped.argmax(axis=1)[10] > bank.argmax(axis=1)[10]


def test_mfcc_of_a_tone_is_steady_and_tells_tones_apart():
    rate = 11025
    rng = np.random.default_rng(2)
    floor = 0.003 * rng.standard_normal(rate)            # every band gets some energy (no log of zero)
    t = np.arange(rate) / rate
    (feats,) = mfcc(0.5 * np.sin(2 * np.pi * 700 * t) + floor, rate)
    p = SpeechParams()
    assert feats.shape == (1 + (rate - int(round(rate * p.frame_ms / 1000))) // int(round(rate * p.hop_ms / 1000)),
                           p.n_mfcc)
    steady = feats[1:]                     # the first frame holds the tone's onset
    (other,) = mfcc(0.5 * np.sin(2 * np.pi * 2500 * t) + floor, rate)
    between = np.linalg.norm(steady.mean(axis=0) - other[1:].mean(axis=0))
    within = np.linalg.norm(steady - steady.mean(axis=0), axis=1).max()
    assert between > 3 * within


@pytest.mark.parametrize("stretch", [0.6, 1.0, 1.5])
def test_subsequence_dtw_finds_a_stretched_copy(stretch):
    rng = np.random.default_rng(4)
    ref = rng.standard_normal((400, 8))
    start, length = 150, 80
    query = ref[start + np.round(np.arange(int(length * stretch)) / stretch).astype(int)]
    query = query + 0.05 * rng.standard_normal(query.shape)
    cost = np.linalg.norm(query[:, None, :] - ref[None, :, :], axis=2)
    per_end, starts = subsequence_dtw(cost)
    end = int(np.argmin(per_end))
    assert abs(starts[end] - start) <= 1 and abs(end + 1 - (start + length)) <= 2
    assert per_end[end] < 0.5 * np.median(per_end[np.isfinite(per_end)])


def test_subsequence_dtw_slope_is_limited():
    cost = np.zeros((10, 4))          # a query more than twice as long as the reference cannot fit
    per_end, _ = subsequence_dtw(cost)
    assert not np.isfinite(per_end).any()


# -- the four figures ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    need_corpus_tools()
    bench = load_bench()
    work = tmp_path_factory.mktemp("speech")
    cases = bench.build_cases(str(work), copy_cases=4, respoken_cases=3, seed=11, per_original=8, copied=5, foreign=3)
    return bench, cases


@pytest.fixture(scope="module")
def report(corpus):
    bench, cases = corpus
    return bench.run(cases)


@pytest.mark.parametrize("figure", ["boundaries", "placed", "not_found", "respoken"])
def test_figures_reach_the_targets(report, corpus, figure):
    bench, _ = corpus
    value, n = report["figures"][figure]
    assert n >= 9, report
    assert value >= bench.TARGETS[figure], json.dumps(report, indent=1)


def test_every_condition_is_in_the_corpus(report):
    conditions = {c.split(" ", 1)[1] for c in report["by_condition"] if c.startswith("copy")}
    assert conditions == {"clean", "mp3", "noise10", "mic"}
    assert sum(1 for c in report["by_condition"] if c.startswith("respoken")) == 3


def test_result_shape_and_json(corpus, tmp_path, monkeypatch):
    _, cases = corpus
    case = cases[0]
    monkeypatch.chdir(tmp_path)
    import dejavu_cn.storage as storage

    def no_database(*args, **kwargs):
        raise AssertionError("compare must not open a database")
    monkeypatch.setattr(storage, "open_storage", no_database)
    result = compare_files(case["recording"], case["original"])
    json.loads(json.dumps(result))
    assert os.listdir(tmp_path) == []                 # no database file appeared
    required = {"index", "start", "end", "verdict", "original_start", "original_end", "similarity", "method"}
    assert result["sentences"] and all(required <= set(s) for s in result["sentences"])
    for s in result["sentences"]:
        assert s["verdict"] in ("same", "similar", "not_found")
        assert 0.0 <= s["similarity"] <= 1.0
        assert s["start"] < s["end"] <= result["recording_seconds"] + 1e-3
        if s["verdict"] != "not_found":
            assert 0.0 <= s["original_start"] < s["original_end"] <= result["original_seconds"] + 1e-3
    # the original's sentences that nobody covered: the ones the recording did not copy
    copied = {n for n, *_ in case["recording_truth"]}
    expected = [i for i, (n, *_) in enumerate(case["original_truth"]) if n not in copied]
    assert [u["index"] for u in result["uncovered"]] == expected
    assert all({"start", "end"} <= set(u) for u in result["uncovered"])


def test_copy_within_one_file_is_found_by_fingerprint(corpus):
    from dejavu_cn.audio import decode_file
    _, cases = corpus
    x = decode_file(cases[0]["original"], target_rate=11025)
    result = compare_samples(x, x, 11025)
    assert all(s["verdict"] == "same" for s in result["sentences"])
    for s in result["sentences"]:
        assert abs(s["original_start"] - s["start"]) <= 0.05
    assert result["uncovered"] == []


# -- bad input --------------------------------------------------------------------------------------
def _wav(path, x, rate=16000):
    from scipy.io import wavfile
    wavfile.write(path, rate, (np.clip(x, -1, 1) * 32767).astype("<i2"))
    return str(path)


def _speechlike(seconds, rate=16000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    env = (np.sin(2 * np.pi * 3 * t) > 0).astype(np.float32) * 0.3
    return (env * np.sin(2 * np.pi * (200 + 100 * rng.random()) * t)).astype(np.float32)


def test_errors_are_domain_errors(tmp_path):
    good = _wav(tmp_path / "good.wav", np.concatenate([np.zeros(8000), _speechlike(2.0), np.zeros(8000)]))
    silent = _wav(tmp_path / "silent.wav", np.zeros(16000))
    tiny = _wav(tmp_path / "tiny.wav", _speechlike(0.1))
    garbage = tmp_path / "garbage.mp3"
    garbage.write_bytes(b"\x00not audio" * 50)
    with pytest.raises(RecognitionError, match="silent"):
        compare_files(silent, good)
    with pytest.raises(RecognitionError, match="silent"):
        compare_files(good, silent)
    with pytest.raises(RecognitionError, match="shorter than a sentence"):
        compare_files(good, tiny)
    with pytest.raises(AudioDecodeError):
        compare_files(str(garbage), good)
    with pytest.raises(AudioDecodeError):
        compare_files(good, str(tmp_path / "missing.wav"))
    with pytest.raises(ConfigError, match="unknown key 'speech.no_such'"):         # the configuration's check
        compare_files(good, good, config={"speech": {"no_such": 1}})
    with pytest.raises(ConfigError, match=r"speech\.z_none: need z_none < z_full"):   # the section's values
        compare_files(good, good, config={"speech": {"z_none": 7}})
    with pytest.raises(ParameterError, match="segmentation parameters"):
        compare_files(good, good, segment_params={"padding_ms": -5})


def test_config_sections_reach_the_comparison(tmp_path):
    from audiogen import make_song
    good = _wav(tmp_path / "good.wav", np.concatenate([np.zeros(8000), make_song(3, 3.0, 16000), np.zeros(8000)]))
    result = compare_files(good, good, config={"speech": {"warps": [1.0]}, "segment": {"padding_ms": 50}})
    assert result["parameters"]["similar"]["warps"] == (1.0,)
    assert result["parameters"]["segment"]["padding_ms"] == 50
    assert [s["verdict"] for s in result["sentences"]] == ["same"]


# -- plot and CLI -------------------------------------------------------------------------------
def test_plot_timeline_writes_png(corpus, tmp_path):
    _, cases = corpus
    result = compare_files(cases[-1]["recording"], cases[-1]["original"])
    path = tmp_path / "timeline.png"
    plot_timeline(result, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    buffer = io.BytesIO()
    plot_timeline(result, buffer)
    assert buffer.getvalue()[:8] == b"\x89PNG\r\n\x1a\n" and len(buffer.getvalue()) > 5000


def test_cli_compare_json_and_plot(corpus, tmp_path, monkeypatch):
    _, cases = corpus
    case = cases[1]
    monkeypatch.chdir(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    png = tmp_path / "plot.png"
    code = main(["compare", case["recording"], "--original", case["original"], "--json", "--plot", str(png)],
                stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    data = json.loads(out.getvalue())
    assert len(data["sentences"]) == len(case["recording_truth"])
    assert {s["verdict"] for s in data["sentences"]} == {"same", "not_found"}
    assert png.read_bytes()[:4] == b"\x89PNG"
    out = io.StringIO()
    assert main(["compare", case["recording"], "--original", case["original"]], stdout=out, stderr=err) == 0
    text = out.getvalue()
    assert "same recording" in text and "not found" in text and "not covered" in text


@pytest.mark.parametrize("problem", ["silent", "unreadable", "short original", "not png"])
def test_cli_compare_bad_input_is_one_line(tmp_path, monkeypatch, problem):
    monkeypatch.chdir(tmp_path)
    good = _wav(tmp_path / "good.wav", np.concatenate([np.zeros(8000), _speechlike(2.0), np.zeros(8000)]))
    args = {"silent": [_wav(tmp_path / "silent.wav", np.zeros(16000)), "--original", good],
            "unreadable": [good, "--original", str(tmp_path / "nowhere.ogg")],
            "short original": [good, "--original", _wav(tmp_path / "tiny.wav", _speechlike(0.1))],
            "not png": [good, "--original", good, "--plot", str(tmp_path / "x.jpg")]}[problem]
    out, err = io.StringIO(), io.StringIO()
    assert main(["compare", *args], stdout=out, stderr=err) == 1
    message = err.getvalue().strip()
    assert message.startswith("dejavu-cn: error:") and "\n" not in message and "Traceback" not in message
    assert out.getvalue() == ""


def test_sentences_cut_from_a_long_real_prompt_are_placed(tmp_path):
    """Allison's 73 s demo-instruct prompt holds many sentences: cut three
    out, shuffle them, add noise, and find each at its place."""
    need_corpus_tools()
    from dejavu_cn.audio import decode_file
    from dejavu_cn.degrade import add_noise
    from segmenter import split_sentences
    prompt = "/usr/share/asterisk/sounds/en_US_f_Allison/demo-instruct.gsm"
    rate = 16000
    original = decode_file(prompt, target_rate=rate)
    assert original.size / rate > 60
    sentences = split_sentences(original, rate)
    assert len(sentences) >= 8
    rng = np.random.default_rng(8)
    chosen = rng.choice(len(sentences), 3, replace=False)
    parts, expected, pos = [np.zeros(rate // 2, np.float32)], [], rate // 2
    for k in chosen:
        s, e = sentences[k]
        parts += [original[s:e], np.zeros(int(0.9 * rate), np.float32)]
        expected.append((pos / rate, (pos + e - s) / rate, s / rate))
        pos += e - s + int(0.9 * rate)
    recording = add_noise(np.concatenate(parts), 15.0, rng)
    result = compare_files(_wav(tmp_path / "cut.wav", recording), _wav(tmp_path / "original.wav", original))
    for start, end, o_start in expected:
        on = [x for x in result["sentences"] if min(x["end"], end) - max(x["start"], start) > 0.5 * (end - start)]
        assert len(on) == 1, result["sentences"]
        sentence = on[0]
        assert sentence["verdict"] == "same"
        assert abs(sentence["original_start"] - (o_start + sentence["start"] - start)) <= 0.1
    assert len(result["uncovered"]) >= len(sentences) - 3 - 1
