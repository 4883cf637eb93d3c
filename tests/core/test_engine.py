"""The engine's decision: the right song, or no match."""
import numpy as np

from audiogen import convert, make_song, write_wav
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


def test_a_clear_long_clip_is_decided_on_its_opening_seconds(tmp_path, songs_dir, sqlite_config):
    engine = Dejavu(sqlite_config)
    engine.register([songs_dir], jobs=1)
    rate = engine.params.sample_rate
    clip = resample(make_song(12, 20.0)[4 * 44100:14 * 44100], 44100, rate)
    looked_up = []
    real_lookup = engine.storage.lookup
    engine.storage.lookup = lambda hashes: looked_up.append(len(hashes)) or real_lookup(hashes)
    early = engine.match_samples(clip)
    assert early["match"]["song_name"] == "song12" and abs(early["match"]["offset_seconds"] - 4.0) < 0.1
    assert early["decided_seconds"] == engine.config.recognition.early_seconds and early["query_seconds"] == 10.0
    assert len(looked_up) == 1 and looked_up[0] < 0.5 * len(engine.analyze(clip).hashes)

    # the same clip in a song that loops it: the opening seconds fit two places, the whole clip decides
    looped = tmp_path / "looped"
    looped.mkdir()
    part = make_song(77, 3.5)
    write_wav(looped / "loop.wav", np.concatenate([part, make_song(78, 6.0), part, make_song(79, 8.0)]), 44100)
    engine.register([looped], jobs=1)
    start = 3.5 + 6.0
    clip = resample(np.concatenate([part, make_song(79, 8.0)])[:10 * 44100], 44100, rate)
    looked_up.clear()
    full = engine.match_samples(clip)
    assert full["match"]["song_name"] == "loop" and abs(full["match"]["offset_seconds"] - start) < 0.1
    assert full["decided_seconds"] == 10.0 and len(looked_up) == 2
    assert full["match"]["repeat_votes"] > 0


def test_triplet_landmarks_register_and_recognise(songs_dir, sqlite_config):
    """fingerprint.landmark = "triplet" end to end: songs registered with
    triplets are found from a noisy clip, at the right offset; unknown audio
    is no match."""
    from dejavu_cn.degrade import add_noise
    engine = Dejavu(dict(sqlite_config, fingerprint={"landmark": "triplet", "fan_value": 4}))
    engine.register([songs_dir], jobs=1)
    rate = engine.params.sample_rate
    clip = resample(make_song(13, 20.0)[6 * 44100:11 * 44100], 44100, rate)
    result = engine.match_samples(add_noise(clip, 10.0, np.random.default_rng(0)))
    assert result["match"] is not None and result["match"]["song_name"] == "song13"
    assert abs(result["match"]["offset_seconds"] - 6.0) < 0.1
    for seed in (501, 502):
        assert engine.match_samples(resample(make_song(seed, 6.0), 44100, rate))["match"] is None


def test_a_thin_match_on_hashes_answers_only_if_the_sketch_agrees_at_its_offset(sqlite_config, monkeypatch):
    """``Dejavu.corroborate``: a candidate above the threshold on fewer than
    ``corroborate_frames`` aligned frames is refused where its song's sketch
    disagrees with the query's at its offset, and the next one is weighed;
    a strong match, an agreeing sketch or a song without one answer."""
    from dejavu_cn.decision import Candidate, rank
    engine = Dejavu({**sqlite_config, "recognition": {"corroborate_frames": 12, "corroborate_z": 2.5}})
    rng = np.random.default_rng(7)
    song = rng.integers(0, 2 ** 32, 2000, dtype=np.uint64).astype(np.uint32)
    agreeing = song[500:700].copy()
    agreeing[::5] ^= np.uint32(0xFFFF)                     # a noisy copy: 10 % of the bits flipped
    unrelated = rng.integers(0, 2 ** 32, 200, dtype=np.uint64).astype(np.uint32)
    monkeypatch.setattr(engine, "sketches", lambda ids: {i: song for i in ids if i != 3})

    def candidates():
        thin = Candidate(1, aligned_frames=5, offset_subframes=0, hits=40, confidence=0.7, p_value=1e-7)
        strong = Candidate(2, aligned_frames=30, offset_subframes=0, hits=90, confidence=0.5, p_value=1e-5)
        for c in (thin, strong):
            c.offset_frames = 502                           # the hashes' offset, within LOCAL_FRAMES of 500
        return rank([thin, strong])

    ranked = candidates()
    assert engine.corroborate(ranked, lambda: agreeing, 0.4) == [] and ranked[0].song_id == 1
    ranked = candidates()
    refused = engine.corroborate(ranked, lambda: unrelated, 0.4)
    assert [c.song_id for c in refused] == [1] and refused[0].confidence == 0.0 and refused[0].p_value == 1.0
    assert 0.4 < refused[0].sketch_bit_error_rate < 0.6
    assert [c.song_id for c in ranked] == [2, 1]           # the strong match answers, the thin one last
    ranked = candidates()
    ranked[0].song_id = 3                                   # a song stored without a sketch: the hashes answer
    assert engine.corroborate(ranked, lambda: unrelated, 0.4) == []
    engine.close()
    never = Dejavu({**sqlite_config, "recognition": {"corroborate_frames": 0}})
    monkeypatch.setattr(never, "sketches", lambda ids: {i: song for i in ids})
    ranked = candidates()
    assert never.corroborate(ranked, lambda: unrelated, 0.4) == [] and ranked[0].song_id == 1
    never.close()

