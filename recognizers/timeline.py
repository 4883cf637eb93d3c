"""Which songs play where in a long recording, and the one place that turns
per-window answers into song segments.

:class:`SegmentTracker` is that place: it holds the playing song's segment
(song, alignment, first and last time heard), says whether an answer
continues it (same song, song offset minus recording time within a
tolerance), opens and closes segments and remembers the last one closed (a
song heard again at the same place is a resumption, not a new song). The
live monitor (:class:`recognizers.streaming.Monitor`) feeds it the looks of
a stream; :func:`scan_timeline` feeds it windows of a recording.

How a recording is scanned
--------------------------
The recording is decoded in chunks (:func:`dejavu_cn.audio.iter_decode`,
never whole) and fingerprinted once, as it comes
(:class:`~dejavu_cn.fingerprint.StreamingFingerprinter` with the query
parameters). Windows of ``timeline.window_seconds`` start every
``hop_seconds``; each is a query of the final hashes whose anchor lies in
it, matched by the engine (:meth:`Dejavu.search`, decided by
:func:`dejavu_cn.decision.decide` under ``recognition.rule()``) against rows
read once per hash (a hash shared by overlapping windows is looked up
once; rows of hashes that left the window are dropped, so memory does not
grow with the recording).

Each window either continues the open segment (its song is among the
window's candidates at the segment's alignment and reaches
``keep_confidence``; or the window decides the song at another place but
the hashes at the open alignment have ``LOOP_SHARE`` of its votes: game
and dance music loops, the same audio at two places of the song), or, when the open song is not decidable there and the
window decides another, closes it and opens a new one. A segment also
closes after ``end_seconds`` without its song. Entries need
``min_windows`` deciding windows (a single window that names a song is not
an entry), and two entries of one song at one alignment separated only by
dropped ones are merged.

Boundaries
----------
Windows say roughly where a song plays; the entry's start and end are read
from the hashes themselves: the recording times of the hashes that match
the song at its alignment (in the entry's windows and the two windows
before it), kept where other matches lie close (:func:`clustered`, so a
lone hash that agreed by chance does not move a boundary). A hash's time is
its anchor's, the first peak of a pair, so the last matched anchor comes a
little before the song's last sound: ``END_PAD_SECONDS`` is added.

Where the hashes stop, the song may still play: a quiet passage under
noise keeps no peak of the song. So the audio between an entry and its
neighbours (or the recording's ends) is judged by itself: the recording's
band-energy sketch (:mod:`dejavu_cn.sketch`, kept as it is fingerprinted,
4 bytes a frame) is compared with the song's at the entry's alignment, a
second at a time, and the entry grows over the audio as long as they agree
beyond chance and more than half as well as where the hashes heard the
song (:func:`heard_by_sketch`: the song fills most of the second); audio
of anything else stops it at once. Two entries that then overlap (a
crossfade) meet half-way.
"""
import dataclasses
import logging
import time
from dataclasses import dataclass, field

import numpy as np

from dejavu_cn.columns import Lookup
from dejavu_cn.errors import ParameterError
from dejavu_cn.fingerprint import StreamingFingerprinter
from dejavu_cn.hashing import distinct, hash_keys
from dejavu_cn.matching import Query, alignment_details
from dejavu_cn.sketch import LOCAL_1PCT, SKETCH_BITS, z_score

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimelineParams:
    """The ``timeline`` section of the configuration: how a long recording
    is scanned (``recognize file --timeline``, the web page's timeline)."""

    window_seconds: float = 6.0       # s of audio per window: one query (a 6 s clip decides 99 % of clean clips)
    hop_seconds: float = 3.0          # s between window starts: windows overlap by half, every hash is read once
    offset_tolerance: float = 0.3     # s; windows agree when song offset minus recording time differs by this
    min_windows: int = 2              # windows that must decide a song for an entry (one window is not enough)
    keep_confidence: float = 0.05     # confidence of the open song at its alignment that keeps its entry open
    end_seconds: float = 9.0          # s without the open song before its entry closes (3 hops)
    min_gap_seconds: float = 1.0      # s; shorter stretches between entries are not listed as gaps

    def validate(self):
        checks = [
            (self.window_seconds >= 1.0, "window_seconds must be >= 1"),
            (0 < self.hop_seconds <= self.window_seconds, "hop_seconds must be > 0 and <= window_seconds"),
            (self.offset_tolerance >= 0, "offset_tolerance must be >= 0"),
            (self.min_windows >= 1, "min_windows must be >= 1"),
            (0.0 <= self.keep_confidence <= 1.0, "keep_confidence must be in [0, 1]"),
            (self.end_seconds > 0, "end_seconds must be > 0"),
            (self.min_gap_seconds >= 0, "min_gap_seconds must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ParameterError(f"timeline parameters: {message}")
        return self


# Heuristics of segment boundaries, in seconds of recording time (not settings: they follow from
# how a song is heard, whatever the analysis parameters).
CLUSTER_SECONDS = 0.5       # a match time counts when others lie within this either side...
CLUSTER_NEIGHBOURS = 2      # ...at least this many (a lone hash that agreed by chance does not)
END_PAD_SECONDS = 0.3       # the song's last sound follows its last matched anchor by about this
LOOK_BACK_WINDOWS = 2       # windows before a segment's first that are searched for where it starts
MATCH_FRAMES = 2            # frames; a hash matches the song at the alignment within this (an alignment is
                            # exact to a frame: a wider net catches chance matches in the audio around)
ENTRY_NEIGHBOURS = 1        # an entry's boundaries need one other match within CLUSTER_SECONDS (matches are
                            # counted within MATCH_FRAMES of the alignment: chance rarely puts two so close)
LOOP_SHARE = 0.5            # a window deciding the open song elsewhere continues it when the open alignment
                            # has this share of the votes there (the song loops: its audio is at both places)
SKETCH_BLOCK_SECONDS = 1.0  # audio beyond an entry's hashes is judged by the sketch this much at a time...
SKETCH_STEP_SECONDS = 0.25  # ...a block every this (so the entry grows by this)
SKETCH_HEARD_Z = LOCAL_1PCT  # a block is the song's when its sketch agrees this well: the best of a wrong
                             # candidate's offsets does so in 1 % of queries (dejavu_cn/sketch.py)


def clustered(times, window=CLUSTER_SECONDS, neighbours=CLUSTER_NEIGHBOURS):
    """The match times (sorted, distinct) that have at least ``neighbours``
    other distinct match times within ``window`` seconds: where a song
    starts or was last heard is read from these, not from a lone hash that
    agreed by chance (or whose anchor precedes the song, its pair inside)."""
    times = np.unique(np.asarray(times, np.float64))
    lo = np.searchsorted(times, times - window, side="left")
    hi = np.searchsorted(times, times + window, side="right")
    return times[hi - lo - 1 >= neighbours]


def heard_by_sketch(recording, song, shift, begin, limit, *, block, step, threshold=SKETCH_HEARD_Z):
    """How far a song keeps playing from ``begin`` towards ``limit``, judged
    by the band-energy sketches alone.

    ``recording`` and ``song`` are sketches (uint32 words, one a frame);
    word ``f`` of the recording is compared with word ``f + shift`` of the
    song. Blocks of ``block`` words next to ``begin``, on the side of
    ``limit``, each ``step`` words further, are the song's while they agree
    with it beyond chance (z-score, :func:`dejavu_cn.sketch.z_score`, at
    least ``threshold``) and more than half as well as the block on the
    other side of ``begin`` (where the song is known to play): a block is
    the song's when the song fills more than half of it, whatever the
    agreement there. Returns (word frames) ``begin`` when the first block
    is not the song's; the middle of the last block that was, when a block
    is not (the song stops about there); the far edge of the last block
    that was, when the next one would leave the recording, the song or the
    stretch up to ``limit``.
    """
    forward = limit >= begin
    lo, hi = max(0, -shift), min(recording.size, song.size - shift)

    def error_rate(a, b):
        errors = np.bitwise_count(recording[a:b] ^ song[a + shift:b + shift]).sum(dtype=np.int64)
        return float(errors) / (SKETCH_BITS * (b - a))

    most = 0.5                                      # error rate above which a block is not the song's
    known = (begin - block, begin) if forward else (begin, begin + block)
    if known[0] >= lo and known[1] <= hi:
        most = (error_rate(*known) + 0.5) / 2
    edge = middle = at = begin
    while True:
        a, b = (at, at + block) if forward else (at - block, at)
        if a < max(lo, min(begin, limit)) or b > min(hi, max(begin, limit)):
            return edge
        rate = error_rate(a, b)
        if rate > most or z_score(rate * SKETCH_BITS * block, block) < threshold:
            return middle
        edge, middle = (b if forward else a), (a + b) // 2
        at += step if forward else -step


@dataclass
class Segment:
    """A stretch where one song plays at one alignment.

    ``match`` is the latest deciding answer (a candidate dict whose
    ``offset_seconds`` is the song position at time 0 of the stream or
    recording); times are seconds of stream or recording time."""

    match: dict
    started: float
    last_heard: float
    windows: int = 1                     # answers that decided this song here
    confidence: float = 0.0              # the best of them
    times: list = field(default_factory=list)   # arrays of matched hash times (recording seconds)

    @property
    def song_id(self):
        return self.match["song_id"]

    @property
    def alignment(self):
        """Song position at time 0 (s)."""
        return self.match["offset_seconds"]


class SegmentTracker:
    """Turns per-window (or per-look) answers into song segments.

    Parameters
    ----------
    offset_tolerance : float
        Seconds; an answer continues the open segment when it names its song
        with song offset minus time within this of the segment's.
    """

    def __init__(self, *, offset_tolerance):
        self.offset_tolerance = float(offset_tolerance)
        self.current = None          # the open Segment
        self.previous = None         # the last Segment closed

    def agrees(self, candidate, segment=None):
        """Does ``candidate`` (a dict: ``song_id``, ``offset_seconds`` at time
        0) name ``segment``'s (default: the open one's) song at its alignment?"""
        segment = segment or self.current
        return (segment is not None and candidate["song_id"] == segment.song_id
                and abs(candidate["offset_seconds"] - segment.alignment) <= self.offset_tolerance)

    def heard(self, seconds):
        """The open song was heard at ``seconds``."""
        self.current.last_heard = max(self.current.last_heard, seconds)

    def silent_for(self, now):
        """Seconds since the open song was last heard."""
        return now - self.current.last_heard

    def open(self, match, *, started, heard):
        """A song is decided: open its segment (the open one must be closed
        first). Returns ``(segment, resumed)``: ``resumed`` when the last
        segment closed was this song at this alignment (heard again where it
        would have been: not a new song)."""
        if self.current is not None:
            raise RuntimeError("open() with a segment open: close() it first")
        resumed = self.previous is not None and self.agrees(match, self.previous)
        self.current = Segment(dict(match), started=started, last_heard=heard,
                               confidence=float(match.get("confidence", 0.0)))
        return self.current, resumed

    def close(self):
        """Close the open segment; returns it."""
        segment, self.current = self.current, None
        self.previous = segment
        return segment


def timeline_params(engine, params=None, **changes):
    """The timeline settings: ``params`` (default: the engine's
    configuration's ``timeline`` section) with ``changes`` applied, checked."""
    if params is None:
        params = engine.config.section("timeline", TimelineParams)
    return dataclasses.replace(params, **changes).validate() if changes else params.validate()


class _RowCache:
    """Database rows of the hashes not yet past: the final hashes are looked
    up as they come, all those of a decoded chunk at once (one round trip
    for many windows; a hash shared by overlapping windows is read once),
    and rows of hashes that left the windows are dropped."""

    def __init__(self, engine, *, budget_per_second):
        self.engine = engine
        self.budget_per_second = budget_per_second
        self.lookup = Lookup.empty()
        self.known = np.zeros(0, np.uint64)
        self.rows = 0
        self.seconds = 0.0

    def read(self, hashes, seconds):
        """Read the rows of ``hashes`` (covering ``seconds`` of audio) not read yet."""
        if not len(hashes):
            return
        uniq, first = np.unique(hash_keys(hashes), return_index=True)
        new = ~np.isin(uniq, self.known, assume_unique=True)
        if not new.any():
            return
        t0 = time.perf_counter()
        budget = max(1, int(round(self.budget_per_second * max(seconds, 1.0)))) if self.budget_per_second else 0
        found = self.engine.lookup(hashes[first[new]], budget=budget)
        self.seconds += time.perf_counter() - t0
        self.rows += int(found.keys.size)
        merged = Lookup.concat([self.lookup, found])
        order = np.argsort(merged.keys, kind="stable")          # kept sorted by key: windows take ranges
        self.lookup = Lookup(merged.keys[order], merged.song_ids[order], merged.offsets[order])
        self.known = distinct(self.known, uniq[new])

    def rows_for(self, keys):
        """The rows of these hash keys (a :class:`Lookup`, sorted by key)."""
        keys = distinct(keys)
        lo = np.searchsorted(self.lookup.keys, keys, side="left")
        n = np.searchsorted(self.lookup.keys, keys, side="right") - lo
        lo, n = lo[n > 0], n[n > 0]
        idx = np.repeat(lo - np.r_[0, np.cumsum(n)[:-1]], n) + np.arange(int(n.sum()))
        return Lookup(self.lookup.keys[idx], self.lookup.song_ids[idx], self.lookup.offsets[idx])

    def keep_only(self, keys):
        """Forget the rows of every hash but these."""
        self.lookup = self.rows_for(keys)
        self.known = np.intersect1d(self.known, keys, assume_unique=True)


class _Window:
    """One window's query (times relative to its start) and rows."""

    def __init__(self, start, start_frame, query, lookup):
        self.start = start              # recording seconds
        self.start_frame = start_frame
        self.query = query
        self.lookup = lookup


class TimelineScanner:
    """Scan a recording fed in pieces (mono float32 at the analysis rate):
    :meth:`feed`, then :meth:`finish` for the timeline.

    Parameters
    ----------
    engine : dejavu_cn.Dejavu
    params : TimelineParams, optional
        Default: the engine configuration's ``timeline`` section.
    **changes
        Fields of :class:`TimelineParams` to change.
    """

    def __init__(self, engine, *, params=None, **changes):
        self.engine = engine
        self.params = timeline_params(engine, params, **changes)
        self.query_params = engine.query_params()
        self.rate = self.query_params.sample_rate
        self.frame = self.query_params.frame_seconds()
        self.window_frames = max(1, int(round(self.params.window_seconds / self.frame)))
        self.hop_frames = max(1, int(round(self.params.hop_seconds / self.frame)))
        self.fp = StreamingFingerprinter(self.query_params, keep_sketch="query")
        self._sketch = []                    # the recording's sketch words, in pieces
        self.lag_frames = self.fp.lag_frames
        rec = engine.config.recognition
        # a query reads at most row_budget rows; a recording, as much per second as a window may
        self.rows = _RowCache(engine, budget_per_second=rec.row_budget / self.params.window_seconds)
        self.tracker = SegmentTracker(offset_tolerance=self.params.offset_tolerance)
        self.rule = engine.config.recognition.rule()
        self.max_rows = engine.config.recognition.max_hash_rows
        self._hashes = np.zeros((0, 10), np.uint8)
        self._frames = np.zeros(0, np.int64)
        self._next_start = 0                 # frame where the next window starts
        self._recent = []                    # the last windows (for where a new segment starts)
        self.segments = []
        self.windows = 0
        self.samples_fed = 0
        self.match_seconds = 0.0

    @property
    def seconds(self):
        return self.samples_fed / self.rate

    def feed(self, samples):
        """Add samples; the windows whose hashes are final are matched."""
        samples = np.asarray(samples, np.float32).reshape(-1)
        self.samples_fed += samples.size
        self._add(self.fp.feed(samples))
        final_until = self.samples_fed // self.query_params.hop_size - self.lag_frames
        while self._next_start + self.window_frames <= final_until:
            self._window()
        self.rows.keep_only(distinct(hash_keys(self._hashes)))

    def finish(self):
        """The recording ended: match the last windows; returns the timeline
        (see :func:`scan_timeline`)."""
        self._add(self.fp.flush())
        total_frames = int(np.ceil(self.samples_fed / self.query_params.hop_size))
        while True:
            self._window()
            if self._next_start + self.window_frames - self.hop_frames >= total_frames:
                break
        if self.tracker.current is not None:
            self.segments.append(self.tracker.close())
        return self._timeline()

    def _add(self, fps):
        self._sketch.append(self.fp.take_sketch())
        if len(fps):
            self._hashes = np.concatenate([self._hashes, fps.hashes])
            self._frames = np.concatenate([self._frames, fps.offsets.astype(np.int64)])
            span = (int(fps.offsets.max()) - int(fps.offsets.min()) + 1) * self.frame
            self.rows.read(fps.hashes, span)

    def _window(self):
        start, end = self._next_start, self._next_start + self.window_frames
        inside = (self._frames >= start) & (self._frames < end)
        hashes, frames = self._hashes[inside], self._frames[inside]
        self._next_start += self.hop_frames
        keep = self._frames >= self._next_start
        self._hashes, self._frames = self._hashes[keep], self._frames[keep]
        t0 = time.perf_counter()
        query = Query(hashes, frames - start, 1, self.window_frames * self.frame)
        lookup = self.rows.rows_for(hash_keys(hashes))
        window = _Window(start * self.frame, start, query, lookup)
        self.windows += 1
        found = self.engine.search(query, lookup=lookup, rule=self.rule)
        self._track(window, found)
        self._recent = (self._recent + [window])[-LOOK_BACK_WINDOWS:]
        self.match_seconds += time.perf_counter() - t0

    def _answer(self, window, candidate):
        """A candidate as a dict, its offset moved to recording time 0."""
        out = candidate.as_dict()
        out["offset_seconds"] = round(candidate.offset_seconds - window.start, 3)
        return out

    def _matched_times(self, window, segment):
        """Recording times of the window's hashes that match the segment's
        song at its alignment. Computed from the recording frame, so a hash
        that two overlapping windows match has one time (one match, not two
        close together: :func:`clustered` counts distinct times)."""
        details = alignment_details(window.query, window.lookup, segment.song_id, max_rows=self.max_rows)
        expected = (segment.alignment + window.start) / self.frame
        near = np.abs(details["difference_frames"] - expected) <= MATCH_FRAMES
        return (details["query_frames"][near] + window.start_frame) * self.frame

    def _track(self, window, found):
        tracker, p = self.tracker, self.params
        now = window.start + p.window_seconds
        answers = [self._answer(window, c) for c in found.candidates]
        decided = answers[found.candidates.index(found.decision.match)] if found.decision.match is not None else None
        current = tracker.current
        if current is not None:
            times = self._matched_times(window, current)
            current.times.append(times)
            mine = next((a for a in answers if tracker.agrees(a)), None)
            if mine is None and decided is not None and decided["song_id"] == current.song_id \
                    and np.unique(times).size >= LOOP_SHARE * decided["aligned_frames"]:
                mine = decided          # a loop: the song's audio repeats, the open alignment fits as well
            if mine is not None and mine["confidence"] >= p.keep_confidence:
                tracker.heard(now)
            if mine is not None and mine["confidence"] >= self.rule.threshold:
                current.windows += 1
                current.confidence = max(current.confidence, mine["confidence"])
                return                                      # the open song still decides here
            if decided is None:
                if tracker.silent_for(now) >= p.end_seconds:
                    self.segments.append(tracker.close())
                return
            self.segments.append(tracker.close())
        if decided is None:
            return
        segment, _ = tracker.open(decided, started=window.start, heard=now)
        for earlier in self._recent:                        # where it starts may lie in the windows before
            segment.times.append(self._matched_times(earlier, segment))
        segment.times.append(self._matched_times(window, segment))

    def _timeline(self):
        p = self.params
        kept = [s for s in self.segments if s.windows >= p.min_windows]
        merged = []
        for s in kept:                                      # one song at one alignment, split by dropped ones
            if merged and self.tracker.agrees(s.match, merged[-1]):
                last = merged[-1]
                last.times.extend(s.times)
                last.windows += s.windows
                last.confidence = max(last.confidence, s.confidence)
                last.last_heard = max(last.last_heard, s.last_heard)
            else:
                merged.append(s)
        duration = self.seconds
        entries = [self._entry(s, duration) for s in merged]
        self._grow(entries, duration)
        for a, b in zip(entries, entries[1:]):              # a crossfade: they meet half-way
            if a["end_seconds"] > b["start_seconds"]:
                middle = round((a["end_seconds"] + b["start_seconds"]) / 2, 3)
                a["end_seconds"] = b["start_seconds"] = middle
        for e in entries:
            e["offset_seconds"] = round(max(0.0, e.pop("_alignment") + e["start_seconds"]), 3)
        return {"timeline": entries, "gaps": _gaps(entries, duration, p.min_gap_seconds),
                "duration_seconds": round(duration, 3), "windows": self.windows,
                "rows_read": self.rows.rows}

    def _grow(self, entries, duration):
        """Extend each entry over the audio next to it that its song's
        sketch, at the entry's alignment, says is still the song (up to
        its neighbours' boundaries as the hashes put them, or the
        recording's ends); in place."""
        if not entries:
            return
        recording = np.concatenate(self._sketch)
        songs = self.engine.sketches({e["song_id"] for e in entries})
        frame = self.frame
        centre = self.query_params.sketch_smoothing_frames / 2     # a word describes the frames after it
        block = max(1, int(round(SKETCH_BLOCK_SECONDS / frame)))
        step = max(1, int(round(SKETCH_STEP_SECONDS / frame)))
        bounds = [(e["start_seconds"], e["end_seconds"]) for e in entries]

        def word(seconds):
            return int(round(seconds / frame - centre))

        for k, e in enumerate(entries):
            song = songs.get(e["song_id"])
            if song is None:
                continue
            shift = int(round(e["_alignment"] / frame))
            before = bounds[k - 1][1] if k else 0.0
            after = bounds[k + 1][0] if k + 1 < len(bounds) else duration
            start, end = bounds[k]
            if after > end:
                edge = heard_by_sketch(recording, song, shift, word(end), word(after), block=block, step=step)
                e["end_seconds"] = round(max(end, min(after, (edge + centre) * frame)), 3)
            if before < start:
                edge = heard_by_sketch(recording, song, shift, word(start), word(before), block=block, step=step)
                e["start_seconds"] = round(min(start, max(before, (edge + centre) * frame)), 3)

    def _entry(self, segment, duration):
        times = np.concatenate(segment.times) if segment.times else np.zeros(0)
        # no later than the end of the last window that heard the song: matches in the windows after, while
        # the entry waits end_seconds to close, are chance ones (where the song still plays, the sketch says so)
        times = clustered(times[times <= segment.last_heard], neighbours=ENTRY_NEIGHBOURS)
        if times.size:
            start, end = float(times[0]), min(duration, float(times[-1]) + END_PAD_SECONDS)
        else:
            start, end = segment.started, min(duration, segment.last_heard)
        m = segment.match
        return {"start_seconds": round(start, 3), "end_seconds": round(end, 3), "song_id": m["song_id"],
                "song_name": m["song_name"], "source_path": m["source_path"],
                "offset_seconds": None, "confidence": round(segment.confidence, 4),
                "windows": segment.windows, "_alignment": m["offset_seconds"]}


def _gaps(entries, duration, min_gap):
    """Stretches no entry covers, at least ``min_gap`` seconds long."""
    gaps, at = [], 0.0
    for e in entries + [{"start_seconds": duration, "end_seconds": duration}]:
        if e["start_seconds"] - at >= min_gap:
            gaps.append({"start_seconds": round(at, 3), "end_seconds": round(e["start_seconds"], 3)})
        at = max(at, e["end_seconds"])
    return gaps


def scan_timeline(engine, chunks, *, params=None, **changes):
    """The timeline of a recording given as pieces.

    Parameters
    ----------
    engine : dejavu_cn.Dejavu
    chunks : iterable of np.ndarray
        Mono float32 pieces at ``engine.params.sample_rate`` (any sizes).
    params : TimelineParams, optional
    **changes
        Fields of :class:`TimelineParams` to change.

    Returns
    -------
    dict
        ``timeline``: entries in recording order, each ``start_seconds``,
        ``end_seconds`` (recording time), ``song_id``, ``song_name``,
        ``source_path``, ``offset_seconds`` (song position at the entry's
        start), ``confidence`` (the best window's), ``windows`` (windows
        that decided it); ``gaps``: stretches no entry covers
        (``start_seconds``, ``end_seconds``); ``duration_seconds``,
        ``windows`` (scanned), ``rows_read`` and ``timings`` (s).
        JSON-serialisable.
    """
    t0 = time.perf_counter()
    scanner = TimelineScanner(engine, params=params, **changes)
    iterator = iter(chunks)
    try:
        for chunk in iterator:
            scanner.feed(chunk)
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()
    result = scanner.finish()
    result["timings"] = {"query": round(scanner.rows.seconds, 6),
                         "match": round(scanner.match_seconds, 6),
                         "total": round(time.perf_counter() - t0, 6)}
    return result


def timeline_of_file(engine, path, *, params=None, **changes):
    """:func:`scan_timeline` of a file (anything ffmpeg reads), decoded as a
    stream: memory does not grow with its length. Adds ``path``.

    Raises
    ------
    dejavu_cn.AudioDecodeError
    """
    import os

    from dejavu_cn.audio import iter_decode
    chunks = iter_decode(os.fspath(path), target_rate=engine.params.sample_rate)
    return {"path": os.fspath(path), **scan_timeline(engine, chunks, params=params, **changes)}
