"""The engine's decision: the right song, or no match."""
import numpy as np

from audiogen import convert, make_song
from dejavu_cn import Dejavu
from dejavu_cn.audio import resample


def test_same_song_registered_twice_is_still_recognised(tmp_path, songs_dir, sqlite_config):
    engine = Dejavu(sqlite_config)
    engine.register([songs_dir], jobs=1)
    copy = convert(songs_dir / "song12.wav", tmp_path / "song12 (album version).flac")   # other bytes
    assert engine.fingerprint_file(copy).status == "registered"
    clip = resample(make_song(12, 20.0)[5 * 44100:9 * 44100], 44100, engine.params.sample_rate)
    result = engine.match_samples(clip)
    assert result["match"] is not None
    assert result["match"]["song_name"] in ("song12", "song12 (album version)")
    assert abs(result["match"]["offset_seconds"] - 5.0) < 0.1
    names = {c["song_name"] for c in result["candidates"][:2]}
    assert names == {"song12", "song12 (album version)"}


def test_unknown_audio_is_no_match_not_the_nearest_song(sqlite_config, songs_dir):
    engine = Dejavu(sqlite_config)
    engine.register([songs_dir], jobs=1)
    for seed in (501, 502, 503):
        result = engine.match_samples(resample(make_song(seed, 6.0), 44100, engine.params.sample_rate))
        assert result["match"] is None
        assert all(0.0 <= c["confidence"] < engine.config.recognition.threshold for c in result["candidates"])


def test_silence_and_noise_are_no_match(sqlite_config, songs_dir):
    engine = Dejavu(sqlite_config)
    engine.register([songs_dir], jobs=1)
    rate = engine.params.sample_rate
    assert engine.match_samples(np.zeros(rate * 3, np.float32))["match"] is None
    noise = np.random.default_rng(0).standard_normal(rate * 5).astype(np.float32) * 0.2
    assert engine.match_samples(noise)["match"] is None


def test_result_is_json_serialisable(sqlite_config, songs_dir):
    import json
    engine = Dejavu(sqlite_config)
    engine.register([songs_dir / "song11.wav"], jobs=1)
    clip = resample(make_song(11, 20.0)[44100:3 * 44100], 44100, engine.params.sample_rate)
    json.dumps(engine.match_samples(clip))
