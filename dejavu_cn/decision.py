"""Candidates and the decision: which song, if any, a query is.

Every path that names a song decides here, with :func:`decide`: a file
(:meth:`dejavu_cn.Dejavu.match_samples`: first on the clip's opening
seconds, with :meth:`RecognitionParams.early_rule`, then on all of it with
:meth:`RecognitionParams.rule`), each look of a live stream
(:mod:`recognizers.streaming`, with the microphone section's ``look_rule``,
confirmed over consecutive looks), and the speech comparison's fingerprint
test. The rules differ in their numbers, never in their logic.

The fields of a candidate
-------------------------
A :class:`Candidate` is one song's best alignment with the query; its
:meth:`Candidate.as_dict` is what results (``--json``, the web API) show.

``song_id``, ``song_name``, ``source_path``, ``file_sha1``, ``song_duration_seconds``
    The song.
``offset_seconds``, ``offset_frames``
    Where in the song the query starts (frames of ``hop / rate`` s).
``aligned_frames``
    The evidence: distinct anchor frames of the song whose hashes line up
    with the query at that offset (within +-1 frame). Hashes are not
    independent evidence (a held note repeats one hash, a chord's partials
    share an anchor), anchor frames are.
``hashes_matched_in_input``
    Hash matches at that offset (query hashes meeting a stored row, per
    analysis start point): the count worldveil/dejavu reports.
``input_total_hashes``
    Hashes of the query (per analysis start point).
``fingerprinted_hashes_in_db``
    Rows the song holds in the index.
``input_confidence``
    ``aligned_frames`` as a share of the query's distinct anchor frames:
    how much of the clip the song explains (low for a noisy clip).
``fingerprinted_confidence``
    ``aligned_frames`` as a share of the song's anchor frames over a stretch
    as long as the query: how much of the song's stretch the clip shows.
``confidence``
    **What decides.** The chance that an alignment this strong happens
    between unrelated audio, ``p_value``, on a log scale:
    ``clip(-log10(p) / 10, 0, 1)``; 0.4 is a chance of 1e-4, 1.0 of 1e-10
    (see :mod:`dejavu_cn.matching`). A query is named when its best
    candidate reaches the rule's threshold (``recognition.threshold``, 0.4).
    A candidate on fewer than ``recognition.corroborate_frames`` aligned
    frames whose song's sketch disagrees with the query's at its offset
    has confidence 0 (:meth:`dejavu_cn.Dejavu.corroborate`).
``p_value``
    That chance.
``repeat_votes``
    Votes of the song's best *other* offset: high when the clip's audio
    repeats in the song (a loop), so the offset is ambiguous.
``speed_factor``, ``pitch_semitones``, ``tempo_factor`` (only where they apply)
    A copy played at another speed (1.25: the clip plays the original 1.25
    times as fast) or pitch (semitones, tempo kept), found by the speed
    search (:mod:`dejavu_cn.changes`); or, found by the index itself, a
    clip whose votes drift off one offset: it plays the original's time
    ``tempo_factor`` times as fast (a tempo change, or a speed change of a
    percent or two). The offset is then where the clip starts in the
    original.
``decided_by``
    ``"hashes"``, or ``"sketch"`` when the band-energy sketch check
    (:mod:`dejavu_cn.sketch`) gave the confidence; ``sketch_bit_error_rate``
    is then its bit error rate (None where the sketch was not checked).
"""
from dataclasses import dataclass, field
from typing import Optional

# the fields a result shows, in order (Candidate.as_dict)
RESULT_FIELDS = ("song_id", "song_name", "source_path", "file_sha1", "song_duration_seconds", "offset_seconds",
                 "offset_frames", "aligned_frames", "hashes_matched_in_input", "repeat_votes", "input_total_hashes",
                 "fingerprinted_hashes_in_db", "input_confidence", "fingerprinted_confidence", "confidence",
                 "p_value", "decided_by", "sketch_bit_error_rate")


@dataclass
class Candidate:
    """One song's best alignment with a query, then its score and its song
    (see the module docstring for what each field counts)."""

    song_id: int
    aligned_frames: int               # distinct song anchor frames in the best +-1-frame window
    offset_subframes: float           # song minus query time, sub-frames (hop / query shifts)
    hits: int                         # (row, difference) votes on this song, any window
    hashes_matched: int = 0           # (query hash, stored row) pairs in the best window, all start points
    repeat_votes: int = 0             # votes of the song's best other window (the clip's audio repeats in the song)
    confidence: float = 0.0
    p_value: float = 1.0
    decided_by: str = "hashes"        # or "sketch" (Dejavu.check_sketches)
    sketch_bit_error_rate: Optional[float] = None
    song: dict = field(default_factory=dict)   # the song's row (Storage.songs_by_id), once known
    offset_frames: int = 0
    offset_seconds: float = 0.0
    input_total_hashes: int = 0
    hashes_matched_in_input: int = 0  # hashes_matched per analysis start point
    input_confidence: float = 0.0
    fingerprinted_confidence: float = 0.0

    def describe(self, song, query, frame_seconds):
        """Fill in the song and the fields relative to the query
        (a :class:`~dejavu_cn.matching.Query`); returns self."""
        self.song = song
        self.offset_frames = int(round(self.offset_subframes / query.shifts))
        self.offset_seconds = round(self.offset_subframes / query.shifts * frame_seconds, 3)
        self.input_total_hashes = int(round(query.hashes_per_shift))
        self.input_confidence = round(float(min(1.0, self.aligned_frames / max(1.0, query.anchor_frames_per_shift))), 4)
        in_span = min(1.0, query.duration_seconds / max(song["duration_seconds"], 1e-9))
        expected = max(1.0, song["anchor_frames"] * in_span)
        self.fingerprinted_confidence = round(float(min(1.0, self.aligned_frames / expected)), 4)
        self.hashes_matched_in_input = int(round(self.hashes_matched / max(1, query.shifts)))
        return self

    def as_dict(self):
        """The candidate as results show it (JSON-serialisable)."""
        song = self.song
        values = {
            "song_name": song.get("song_name"), "source_path": song.get("source_path"),
            "file_sha1": song.get("file_sha1"),
            "song_duration_seconds": round(song["duration_seconds"], 3) if "duration_seconds" in song else None,
            "fingerprinted_hashes_in_db": int(song.get("total_hashes", 0)),
            "confidence": round(self.confidence, 4), "p_value": float(f"{self.p_value:.3g}"),
        }
        return {name: values[name] if name in values else getattr(self, name) for name in RESULT_FIELDS}


@dataclass(frozen=True)
class Rule:
    """When the best candidate is an answer.

    threshold : confidence it must reach.
    max_repeat_share : its ``repeat_votes`` may be at most this share of its
        ``aligned_frames`` (None: not checked): an early decision needs the
        offset unambiguous, not only the song.
    decided_by : only a candidate decided this way counts (None: any).
    """

    threshold: float
    max_repeat_share: Optional[float] = None
    decided_by: Optional[str] = None


@dataclass(frozen=True)
class Decision:
    """The answer (``match``, None for "no match") and why (``reason``)."""

    match: Optional[Candidate]
    reason: str                      # "match", "no candidate", "below threshold", "offset repeats", "not <way>"


def rank(candidates):
    """Sort candidates in place, best first: confidence, then the evidence
    (``aligned_frames``), then the song id (stable results); returns them."""
    candidates.sort(key=lambda c: (-c.confidence, -c.aligned_frames, c.song_id))
    return candidates


def decide(candidates, rule):
    """The :class:`Decision` on ranked ``candidates`` (best first) under
    ``rule``. Pure: reads the candidates, changes nothing."""
    if not candidates:
        return Decision(None, "no candidate")
    best = candidates[0]
    if best.confidence < rule.threshold:
        return Decision(None, "below threshold")
    if rule.max_repeat_share is not None and best.repeat_votes > rule.max_repeat_share * best.aligned_frames:
        return Decision(None, "offset repeats")
    if rule.decided_by is not None and best.decided_by != rule.decided_by:
        return Decision(None, f"not {rule.decided_by}")
    return Decision(best, "match")
