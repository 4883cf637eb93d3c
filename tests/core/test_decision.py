"""The one decision rule (dejavu_cn/decision.py) and the candidate fields."""
import threading

from dejavu_cn.decision import RESULT_FIELDS, Candidate, Rule, decide, rank


def cand(song_id, confidence, aligned=10, repeat=0, by="hashes"):
    return Candidate(song_id=song_id, aligned_frames=aligned, offset_subframes=0.0, hits=aligned,
                     repeat_votes=repeat, confidence=confidence, decided_by=by)


def test_the_best_candidate_must_reach_the_threshold():
    ranked = rank([cand(2, 0.39), cand(1, 0.2)])
    assert decide(ranked, Rule(0.4)).match is None and decide(ranked, Rule(0.4)).reason == "below threshold"
    assert decide(ranked, Rule(0.39)).match.song_id == 2
    assert decide([], Rule(0.0)).reason == "no candidate"


def test_an_early_decision_needs_an_unambiguous_offset():
    loop = cand(1, 0.9, aligned=20, repeat=15)                # the clip's audio fits elsewhere in the song too
    assert decide([loop], Rule(0.6)).match is loop
    assert decide([loop], Rule(0.6, max_repeat_share=0.7)).reason == "offset repeats"
    assert decide([cand(1, 0.9, aligned=20, repeat=14)], Rule(0.6, max_repeat_share=0.7)).match is not None


def test_a_rule_may_ask_for_the_sketch():
    assert decide([cand(1, 0.5)], Rule(0.4, decided_by="sketch")).match is None
    assert decide([cand(1, 0.5, by="sketch")], Rule(0.4, decided_by="sketch")).match is not None


def test_ranking_is_confidence_then_evidence_then_song():
    ranked = rank([cand(3, 0.5, aligned=5), cand(2, 0.5, aligned=9), cand(1, 0.5, aligned=9), cand(4, 0.9)])
    assert [c.song_id for c in ranked] == [4, 1, 2, 3]


def test_a_result_shows_every_documented_field(sqlite_config, songs_dir):
    from audiogen import make_song
    from dejavu_cn import Dejavu
    from dejavu_cn.audio import resample
    engine = Dejavu(sqlite_config)
    engine.register([songs_dir], jobs=1)
    result = engine.match_samples(resample(make_song(12, 20.0)[5 * 44100:9 * 44100], 44100, engine.params.sample_rate))
    best = result["match"]
    assert best is not None and list(best) == list(RESULT_FIELDS)
    assert best["aligned_frames"] >= 1 and best["hashes_matched_in_input"] >= best["aligned_frames"] * 0.5
    assert result["candidates"][0] == best and best["song_name"] == "song12"
    engine.close()


def test_one_engine_gives_each_thread_its_own_connection(tmp_path, monkeypatch):
    from dejavu_cn import Dejavu
    from dejavu_cn.storage import base
    setups = []
    real = base.Storage.setup
    monkeypatch.setattr(base.Storage, "setup", lambda self, p, **kw: setups.append(1) or real(self, p, **kw))
    engine = Dejavu({"database": {"path": str(tmp_path / "t.sqlite3")}})
    stores = {}

    def use(i):
        stores[i] = engine.storage
        assert engine.storage is stores[i] and engine.stats()["songs"] == 0
    threads = [threading.Thread(target=use, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(s) for s in stores.values()}) == 3 and len(setups) == 1     # the schema checked once
    engine.close()
    assert all(s._conn is None for s in stores.values())
    assert engine.stats()["songs"] == 0                                          # opens again when used
