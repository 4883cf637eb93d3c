"""Silence segmentation on synthetic signals with known answers: tones
separated by silences of known length."""
import json
import os
import wave

import numpy as np
import pytest

from dejavu_cn.cli import main
from dejavu_cn.errors import ParameterError
from segmenter import (SegmentParams, detect_nonsilent, export_sentences, frame_levels, sentence_cores,
                       silence_threshold, speech_band, split_sentences)


def tone(seconds, rate, *, freq=440.0, amplitude=0.5):
    t = np.arange(int(round(seconds * rate))) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def tones_and_gaps(layout, rate, *, amplitude=0.5, noise_db=None, seed=0):
    """``layout``: alternating silence, tone, silence, tone... lengths in s.
    Returns the signal and the true tone intervals in samples."""
    parts, truth, pos = [], [], 0
    for k, seconds in enumerate(layout):
        n = int(round(seconds * rate))
        if k % 2:
            parts.append(tone(seconds, rate, freq=300.0 + 150.0 * k, amplitude=amplitude))
            truth.append((pos, pos + n))
        else:
            parts.append(np.zeros(n, np.float32))
        pos += n
    x = np.concatenate(parts)
    if noise_db is not None:
        rng = np.random.default_rng(seed)
        x = x + (amplitude * 10 ** (noise_db / 20)) * rng.standard_normal(x.size).astype(np.float32)
    return x.astype(np.float32), np.array(truth)


LAYOUT = (0.5, 1.0, 0.6, 0.45, 0.8, 2.0, 1.2, 0.7, 0.5)   # silence, tone, silence, ...


@pytest.mark.parametrize("rate", [8000, 16000, 44100])
@pytest.mark.parametrize("amplitude", [0.5, 0.005])
def test_tones_found_within_one_frame(rate, amplitude):
    x, truth = tones_and_gaps(LAYOUT, rate, amplitude=amplitude)
    cores = sentence_cores(x, rate)
    assert cores.shape == truth.shape
    assert np.abs(cores - truth).max() <= rate * 0.010       # one 10 ms frame


def test_a_quiet_copy_is_cut_at_the_same_places():
    rate = 16000
    x, _ = tones_and_gaps(LAYOUT, rate, noise_db=-30)
    loud = split_sentences(x, rate)
    quiet = split_sentences(x * 10 ** (-40 / 20), rate)
    np.testing.assert_array_equal(loud, quiet)


def test_noise_floor_raises_the_threshold():
    rate = 16000
    x, truth = tones_and_gaps(LAYOUT, rate, noise_db=-20, seed=3)
    levels = frame_levels(x, rate)
    params = SegmentParams()
    floor = np.percentile(levels, params.floor_percentile)
    assert silence_threshold(levels, params) >= floor + params.noise_margin_db - 1e-9
    cores = sentence_cores(x, rate)
    assert cores.shape == truth.shape
    assert np.abs(cores - truth).max() <= rate * 0.030


def test_mains_hum_outside_the_speech_band_is_ignored():
    rate = 16000
    x, truth = tones_and_gaps(LAYOUT, rate)
    hum = 0.35 * np.sin(2 * np.pi * 50 * np.arange(x.size) / rate).astype(np.float32)    # 50 Hz, -12 dBFS
    params = SegmentParams()
    pause = slice(0, int(0.4 * rate))
    full = frame_levels(x + hum, rate)[5:35]
    band = frame_levels(speech_band(x + hum, rate, params)[pause], rate)[5:35]
    assert full.min() > -14 and band.max() < -60          # the hum is as loud as the tones, but not in the band
    cores = sentence_cores(x + hum, rate)
    assert cores.shape == truth.shape
    assert np.abs(cores - truth).max() <= rate * 0.015


def test_short_pause_does_not_end_a_sentence():
    rate = 16000
    x, _ = tones_and_gaps((0.3, 1.0, 0.25, 1.0, 0.3), rate)
    assert sentence_cores(x, rate, {"min_silence_ms": 400}).shape[0] == 1
    assert sentence_cores(x, rate, {"min_silence_ms": 200}).shape[0] == 2


def test_clicks_shorter_than_a_sentence_are_dropped():
    rate = 16000
    x, truth = tones_and_gaps((0.5, 1.0, 1.0, 0.05, 1.0, 1.0, 0.5), rate)
    cores = sentence_cores(x, rate, {"min_sentence_ms": 200})
    assert cores.shape[0] == 2
    assert np.abs(cores - truth[[0, 2]]).max() <= rate * 0.010


def test_long_sentence_split_at_its_quietest_point():
    rate = 8000
    x = tone(10.0, rate)
    dip = slice(int(6.0 * rate), int(6.1 * rate))
    x[dip] *= 10 ** (-25 / 20)           # quieter, but well above the silence threshold
    assert sentence_cores(x, rate).shape[0] == 1
    cores = sentence_cores(x, rate, {"max_sentence_ms": 8000})
    assert cores.shape[0] == 2
    assert abs(cores[0, 1] / rate - 6.05) <= 0.06
    assert cores[1, 0] == cores[0, 1]
    assert all((e - s) / rate <= 8.0 for s, e in cores)


def test_padding_stops_at_the_middle_of_the_pause_and_the_ends():
    rate = 16000
    x, truth = tones_and_gaps((0.1, 1.0, 0.5, 1.0, 0.1), rate)
    padded = split_sentences(x, rate, {"padding_ms": 300, "min_silence_ms": 400})
    middle = (truth[0, 1] + truth[1, 0]) // 2
    assert padded[0, 0] == 0 and padded[1, 1] == x.size
    assert padded[0, 1] == middle and padded[1, 0] == middle
    small = split_sentences(x, rate, {"padding_ms": 100, "min_silence_ms": 400})
    np.testing.assert_allclose(small[:, 0], np.maximum(truth[:, 0] - 1600, 0), atol=rate * 0.010)


def test_silence_gives_no_sentences():
    for x in (np.zeros(16000, np.float32), np.zeros(0, np.float32)):
        assert split_sentences(x, 16000).shape == (0, 2)
        assert detect_nonsilent(x, 16000).shape == (0, 2)


def test_hiss_of_an_empty_recording_gives_no_sentences():
    rng = np.random.default_rng(5)
    hiss = (10 ** (-80 / 20) * rng.standard_normal(16000 * 3)).astype(np.float32)     # about -80 dBFS
    assert split_sentences(hiss, 16000).shape == (0, 2)
    x, truth = tones_and_gaps(LAYOUT, 16000, amplitude=0.001)                             # speech at about -63 dBFS
    assert sentence_cores(x + np.resize(hiss, x.size), 16000).shape == truth.shape


def test_absolute_threshold_as_in_pydub():
    rate = 16000
    x, truth = tones_and_gaps(LAYOUT, rate, amplitude=0.02)        # about -37 dBFS RMS
    assert sentence_cores(x, rate, {"relative": False, "silence_thresh_db": -30}).shape[0] == 0
    assert sentence_cores(x, rate, {"relative": False, "silence_thresh_db": -50}).shape == truth.shape


def test_agrees_with_pydub_detect_nonsilent():
    from pydub.silence import detect_nonsilent as pydub_detect
    from segmenter import to_audiosegment
    rate = 16000
    x, _ = tones_and_gaps(LAYOUT, rate)
    theirs = np.array(pydub_detect(to_audiosegment(x, rate), min_silence_len=400, silence_thresh=-50))  # ms
    ours = detect_nonsilent(x, rate, {"relative": False, "silence_thresh_db": -50, "min_silence_ms": 400})
    assert ours.shape == theirs.shape
    assert np.abs(ours / rate * 1000 - theirs).max() <= 10


@pytest.mark.parametrize("bad", [{"min_silence_ms": 0}, {"padding_ms": -1}, {"silence_thresh_db": 5},
                                 {"max_sentence_ms": 100}, {"no_such": 1}, {"padding_ms": "wide"}])
def test_bad_parameters_are_refused(bad):
    with pytest.raises(ParameterError):
        split_sentences(np.zeros(100, np.float32), 16000, bad)


def test_stereo_array_is_refused():
    with pytest.raises(ParameterError):
        split_sentences(np.zeros((100, 2), np.float32), 16000)


def test_export_writes_one_wav_per_sentence(tmp_path):
    rate = 16000
    x, _ = tones_and_gaps(LAYOUT, rate)
    intervals = split_sentences(x, rate)
    paths = export_sentences(x, rate, intervals, tmp_path / "out")
    assert len(paths) == len(intervals) == 4
    for path, (s, e) in zip(paths, intervals):
        with wave.open(path) as w:
            assert w.getframerate() == rate and w.getnchannels() == 1 and w.getsampwidth() == 2
            assert w.getnframes() == e - s


def _write_wav(path, x, rate=16000):
    from scipy.io import wavfile
    wavfile.write(path, rate, (np.clip(x, -1, 1) * 32767).astype("<i2"))
    return str(path)


def test_cli_segment_json_and_files(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    x, truth = tones_and_gaps(LAYOUT, 16000)
    path = _write_wav(tmp_path / "talk.wav", x)
    import io
    out, err = io.StringIO(), io.StringIO()
    code = main(["segment", path, "--out", str(tmp_path / "parts"), "--json"], stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    data = json.loads(out.getvalue())
    assert [s["index"] for s in data["sentences"]] == [0, 1, 2, 3]
    for s, (ts, te) in zip(data["sentences"], truth / 16000):
        assert s["start"] <= ts and s["end"] >= te and s["end"] - s["start"] == pytest.approx(s["duration"], abs=2e-3)
        assert os.path.isfile(s["file"])
    out = io.StringIO()
    assert main(["segment", path, "--padding-ms", "0"], stdout=out, stderr=err) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("4 sentences") and len(lines) == 5


@pytest.mark.parametrize("content", ["silent", "garbage", "missing"])
def test_cli_segment_bad_input_is_one_line(tmp_path, monkeypatch, content):
    import io
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "bad.wav"
    if content == "silent":
        _write_wav(path, np.zeros(16000, np.float32))
    elif content == "garbage":
        path.write_bytes(b"this is not audio" * 100)
    out, err = io.StringIO(), io.StringIO()
    assert main(["segment", str(path)], stdout=out, stderr=err) == 1
    message = err.getvalue().strip()
    assert message.startswith("dejavu-cn: error:") and "\n" not in message and "Traceback" not in message
    assert ("no sentence" in message) if content == "silent" else ("cannot decode" in message)


# -- real speech synthesis: espeak-ng with SSML breaks of known length ----------------------------
def _espeak(tmp_path, ssml):
    import shutil
    import subprocess
    if not shutil.which("espeak-ng"):
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("espeak-ng is not installed")
        pytest.skip("espeak-ng is not installed")
    path = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-m", "-v", "en-us", "-w", str(path), f"<speak>{ssml}</speak>"], check=True)
    from dejavu_cn.audio import decode_file
    return decode_file(path, target_rate=16000)


@pytest.mark.parametrize("break_ms", [500, 800, 1500])
def test_ssml_break_splits_sentences_at_its_length(tmp_path, break_ms):
    x = _espeak(tmp_path, f'The library opens at nine. <break time="{break_ms}ms"/> '
                          'Please close the window when you leave.')
    cores = sentence_cores(x, 16000)
    assert cores.shape[0] == 2
    gap = (cores[1, 0] - cores[0, 1]) / 16000
    assert break_ms / 1000 - 0.05 <= gap <= break_ms / 1000 + 0.15
    padded = split_sentences(x, 16000)
    assert cores[0, 1] < padded[0, 1] <= padded[1, 0] < cores[1, 0]   # the boundary lies inside the pause


def test_ssml_short_break_keeps_one_sentence(tmp_path):
    x = _espeak(tmp_path, 'The library opens at nine <break time="150ms"/> and closes at six.')
    assert sentence_cores(x, 16000).shape[0] == 1


# -- constants derived from the parameters -----------------------------------------------------------
@pytest.mark.parametrize("frame_ms", [5.0, 10.0, 20.0])
@pytest.mark.parametrize("rate", [8000, 44100])
def test_split_point_in_seconds_does_not_depend_on_the_frame_length(frame_ms, rate):
    """A 12 s sentence (longer than max_sentence_ms) with a 15 ms drop-out
    (between two syllables) at 4 s and a 100 ms quieter stretch (a breath
    pause) at 7 s is split in the pause at every frame length: the levels
    are smoothed over 50 ms, not over 5 frames (25 ms at 5 ms frames let
    the drop-out win)."""
    lead = 2.0                                   # s of silence each side: the noise floor is silence
    x = np.concatenate([np.zeros(int(lead * rate), np.float32), tone(12.0, rate, freq=1000.0),
                        np.zeros(int(lead * rate), np.float32)])
    at = lambda seconds: int(round((lead + seconds) * rate))            # noqa: E731
    x[at(4.0):at(4.015)] *= 10 ** (-60 / 20)
    x[at(7.0):at(7.1)] *= 10 ** (-20 / 20)
    params = {"frame_ms": frame_ms, "window_ms": frame_ms, "low_hz": 0, "high_hz": 0, "max_sentence_ms": 10000}
    cores = sentence_cores(x, rate, params) / rate - lead
    assert cores.shape == (2, 2)
    assert 7.0 - 1e-9 <= cores[0, 1] <= 7.1 and cores[1, 0] == cores[0, 1]


@pytest.mark.parametrize("rate", [8000, 11025, 44100])
def test_find_sentences_gives_the_same_seconds_at_any_rate(rate):
    """One segmentation for every caller: cut at SEGMENT_RATE, so a signal
    at another rate gives the sentences of its 16 kHz version."""
    from segmenter import SEGMENT_RATE, find_sentences
    x16, _ = tones_and_gaps(LAYOUT, SEGMENT_RATE)
    x, _ = tones_and_gaps(LAYOUT, rate)
    reference = find_sentences(x16, SEGMENT_RATE)
    found = find_sentences(x, rate)
    assert len(found) == len(reference) == 4
    assert np.abs(found.padded - reference.padded).max() <= 0.0015     # s: the resampler's edges, not a frame
    assert np.abs(found.cores - reference.cores).max() <= 0.0015
    cores, padded = found.samples(rate)
    assert cores.dtype == np.int64 and np.all(padded[:, 0] <= cores[:, 0]) and np.all(cores[:, 1] <= padded[:, 1])
    assert padded[-1, 1] <= x.size


def test_find_sentences_at_the_segment_rate_is_split_sentences():
    from segmenter import SEGMENT_RATE, find_sentences, intervals_to_seconds
    x, _ = tones_and_gaps(LAYOUT, SEGMENT_RATE)
    found = find_sentences(x, SEGMENT_RATE, {"padding_ms": 200})
    intervals = split_sentences(x, SEGMENT_RATE, {"padding_ms": 200})
    np.testing.assert_array_equal(found.samples(SEGMENT_RATE)[1], intervals)
    assert found.to_list() == intervals_to_seconds(intervals, SEGMENT_RATE)
