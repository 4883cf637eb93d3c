import dataclasses

import numpy as np
import pytest

from audiogen import make_song
from dejavu_cn.audio import resample
from dejavu_cn.config import FingerprintParams
from dejavu_cn.fingerprint import (Fingerprints, Peaks, StreamingFingerprinter, _rank_select,
                                   band_bins, drop_repeated, find_peaks, fingerprint, spectrogram,
                                   window_max)

P = FingerprintParams()


def tone(freq, seconds, rate=P.sample_rate, amp=0.5):
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_spectrogram_of_full_scale_sine_peaks_at_its_bin_near_0_db():
    spec = spectrogram(tone(1000.0, 1.0, amp=1.0), window_size=P.window_size, hop_size=P.hop_size)
    expected_bin = round(1000.0 * P.window_size / P.sample_rate)
    assert spec.shape == (1 + (P.sample_rate - P.window_size) // P.hop_size, P.window_size // 2 + 1)
    assert np.all(spec.argmax(axis=1) == expected_bin)
    assert abs(spec[:, expected_bin].mean()) < 2.0          # dB re full scale


def test_peaks_of_two_tones_are_at_their_frequencies():
    x = tone(440.0, 3.0) + tone(2000.0, 3.0)
    peaks = find_peaks(x, P)
    hz = peaks.bins * P.sample_rate / P.window_size
    assert len(peaks) > 0
    assert set(np.round(hz / 20.0) * 20.0) <= {440.0, 2000.0, 2000.0} | {round(440 / 20) * 20.0}
    assert np.all((np.abs(hz - 440.0) < 15) | (np.abs(hz - 2000.0) < 15))


def test_no_peaks_outside_band_or_in_silence():
    low, high = band_bins(P)
    assert len(find_peaks(np.zeros(P.sample_rate * 3, np.float32), P)) == 0
    assert len(find_peaks(tone(P.min_frequency / 2, 3.0), P)) == 0          # below min_frequency
    peaks = find_peaks(make_song(3, 10.0, rate=P.sample_rate), P)
    assert peaks.bins.min() >= low and peaks.bins.max() < high


@pytest.mark.parametrize("gain_db", [-30.0, -12.0, 6.0])
def test_loudness_does_not_change_hashes(gain_db):
    x = make_song(5, 15.0, rate=P.sample_rate) * 0.5
    base = fingerprint(x, P)
    scaled = fingerprint(x * np.float32(10 ** (gain_db / 20)), P)
    assert len(base) > 500
    np.testing.assert_array_equal(base.hashes, scaled.hashes)
    np.testing.assert_array_equal(base.offsets, scaled.offsets)


def test_peak_density_is_capped():
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(P.sample_rate * 10).astype(np.float32) * 0.3
    peaks = find_peaks(noise, P)
    per_second = len(peaks) / 10.0
    assert 0.5 * P.peaks_per_second < per_second <= P.peaks_per_second * 1.05


def test_streaming_in_random_pieces_equals_one_shot():
    x = make_song(7, 25.0, rate=P.sample_rate)
    whole = fingerprint(x, P)
    rng = np.random.default_rng(2)
    fp, parts, i = StreamingFingerprinter(P), [], 0
    while i < x.size:
        n = int(rng.integers(1, 9000))
        parts.append(fp.feed(x[i:i + n]))
        i += n
    parts.append(fp.flush())
    streamed = Fingerprints.concat(parts)
    np.testing.assert_array_equal(streamed.hashes, whole.hashes)
    np.testing.assert_array_equal(streamed.offsets, whole.offsets)


@pytest.mark.parametrize("landmark", ["pair", "triplet"])
def test_landmarks_respect_target_zone(landmark):
    from dejavu_cn.fingerprint import landmark_peaks
    params = dataclasses.replace(P, landmark=landmark, fan_value=4).validate()
    peaks = find_peaks(make_song(9, 10.0, rate=P.sample_rate), params)
    marks = landmark_peaks(peaks, params)
    targets = [(marks.f2, marks.dt)] + ([(marks.f3, marks.dt3)] if landmark == "triplet" else [])
    for f, dt in targets:
        assert dt.min() >= P.min_hash_time_delta and dt.max() <= P.max_hash_time_delta
        assert np.abs(f - marks.f1).max() <= P.max_hash_freq_delta
    at = {(int(t), int(f)) for t, f in zip(peaks.frames, peaks.bins)}
    assert all((int(t), int(f)) in at for t, f in zip(marks.t1 + marks.dt, marks.f2))
    _, per_anchor = np.unique(marks.t1 * 10000 + marks.f1, return_counts=True)
    if landmark == "pair":
        assert (marks.dt3 == 0).all() and per_anchor.max() == 4
    else:       # each two of an anchor's 4 first targets, the earlier one first
        assert ((marks.dt < marks.dt3) | ((marks.dt == marks.dt3) & (marks.f2 < marks.f3))).all()
        assert all((int(t), int(f)) in at for t, f in zip(marks.t1 + marks.dt3, marks.f3))
        assert per_anchor.max() == 6


def test_triplets_stream_like_one_pass_and_hash_apart_from_pairs():
    params = dataclasses.replace(P, landmark="triplet", fan_value=4).validate()
    x = make_song(3, 20.0, rate=P.sample_rate)
    whole = fingerprint(x, params)
    fp = StreamingFingerprinter(params)
    parts = [fp.feed(x[i:i + 7000]) for i in range(0, x.size, 7000)] + [fp.flush()]
    streamed = Fingerprints.concat(parts)
    np.testing.assert_array_equal(streamed.hashes, whole.hashes)
    np.testing.assert_array_equal(streamed.offsets, whole.offsets)
    pairs = fingerprint(x, dataclasses.replace(P, fan_value=4))
    assert not set(map(bytes, pairs.hashes)) & set(map(bytes, whole.hashes))
    # a key space far larger than the pairs': nearly every triplet of a song is its own hash
    assert np.unique(whole.hashes, axis=0).shape[0] > 0.8 * len(whole)


def test_empty_and_short_input():
    assert len(fingerprint(np.zeros(0, np.float32), P)) == 0
    assert len(fingerprint(np.zeros(100, np.float32), P)) == 0


@pytest.mark.parametrize("rate", [44100, 48000, 22050, 16000])
def test_same_audio_at_other_rates_gives_mostly_same_hashes(rate):
    source_rate = 44100
    x = make_song(4, 12.0, rate=source_rate)
    ref = fingerprint(resample(x, source_rate, P.sample_rate), P)
    other = resample(x, source_rate, rate) if rate != source_rate else x
    got = fingerprint(resample(other, rate, P.sample_rate), P)
    ref_set = set(zip(map(bytes, ref.hashes), ref.offsets.tolist()))
    got_set = set(zip(map(bytes, got.hashes), got.offsets.tolist()))
    assert len(ref_set & got_set) / len(ref_set) > 0.6


def test_params_validation():
    from dejavu_cn.errors import ConfigError
    with pytest.raises(ConfigError):
        dataclasses.replace(P, window_size=1000).validate()
    with pytest.raises(ConfigError):
        dataclasses.replace(P, hop_size=0).validate()


def test_drop_repeated_removes_hashes_a_song_repeats_everywhere():
    a, b = np.full(10, 1, np.uint8), np.full(10, 2, np.uint8)
    hashes = np.array([a] * 10 + [b, b, b])
    offsets = np.array(list(range(10)) + [3, 7, 7], np.int32)        # b twice at frame 7: one row
    kept = drop_repeated(Fingerprints(hashes, offsets), 8)
    assert sorted(kept.offsets.tolist()) == [3, 7]
    assert (kept.hashes == b).all()
    assert len(drop_repeated(Fingerprints(hashes, offsets), 0)) == 13       # 0: no limit
    assert len(drop_repeated(Fingerprints(hashes, offsets), 10)) == 12      # a kept, b's duplicate row merged


@pytest.mark.parametrize("shape, h", [((40, 7), 3), ((5, 3), 3), ((1, 4), 1), ((30, 9), 0), ((12, 40), 6),
                                      ((3, 2), 9), ((17, 31), 5)])
@pytest.mark.parametrize("axis", [0, 1])
def test_window_max_equals_scipy_maximum_filter(shape, h, axis):
    from scipy.ndimage import maximum_filter1d
    x = np.random.default_rng(h).normal(size=shape).astype(np.float32)
    expected = maximum_filter1d(x, 2 * h + 1, axis=axis, mode="constant", cval=-np.inf)
    got = window_max(x, h, axis=axis)
    assert got.dtype == np.float32 and np.array_equal(got, expected)


@pytest.mark.parametrize("integer_scores", [False, True])
def test_rank_select_keeps_the_best_of_each_window_ties_to_the_earlier(integer_scores):
    rng = np.random.default_rng(7)
    n, keep, half = 900, 5, 4
    frames = np.sort(rng.integers(0, 200, n)).astype(np.int32)
    scores = (rng.integers(0, 6, n) if integer_scores else rng.normal(size=n)).astype(np.float32)
    peaks = Peaks(frames, np.zeros(n, np.int32), scores, scores)
    expected = np.zeros(n, bool)
    for i in range(n):                     # the definition, peak by peak
        window = np.flatnonzero(np.abs(frames - frames[i]) <= half)
        stronger = [j for j in window if scores[j] > scores[i] or (scores[j] == scores[i] and j < i)]
        expected[i] = len(stronger) < keep
    assert 0 < expected.sum() < n
    assert np.array_equal(_rank_select(peaks, keep, half), expected)
