"""Streaming recognition: fingerprint a live stream incrementally, re-match it
every fraction of a second, and decide as soon as the answer is safe.

No audio device here: everything takes mono float32 samples at the analysis
rate (``engine.params.sample_rate``), so tests and benchmarks can feed
recorded buffers. :mod:`recognizers.microphone` feeds it from PyAudio.

How a look works
----------------
A query is analysed at ``recognition.query_shifts`` (S) start points
``hop / S`` samples apart (see :func:`dejavu_cn.matching.analyze_query`):
S :class:`~dejavu_cn.fingerprint.StreamingFingerprinter` run side by side,
the k-th fed the stream minus its first ``round(k * hop / S)`` samples. A
fingerprinter only releases a hash once later audio cannot change it (about
2.2 s after the sound with the default parameters), so each look adds the
*provisional* hashes of the tail, taken by flushing a copy of each
fingerprinter: the query then holds exactly what a one-shot analysis of the
audio so far would hold. Only hashes never seen before go to the database;
the rows are kept and passed to :meth:`Dejavu.match_query`, so a look costs
one small lookup and one vectorised alignment.

Deciding early
--------------
Matching again and again multiplies the chances of a fluke, and music from
one soundtrack shares instruments and loops, which the chance model of
:mod:`dejavu_cn.matching` does not know about. A look only *decides* when
the best candidate reaches ``min_confidence`` (0.7, against the one-shot
threshold ``recognition.threshold``, 0.4) on ``confirmations`` (3) consecutive looks, with the same
song and the same alignment (song offset at stream start within
``offset_tolerance``) each time. Measured with ``bench/mic.py --offline``
on Debian's game music (146 songs registered): on 64 ten-second sessions of
held-out tracks, 0.5 with 2 confirmations named a song 7 times, 0.7 with 3
once (a track of the same album); time-to-answer went from 1.2 to 1.6 s
(clean) and 1.6 to 2.0 s (microphone-like).

A stream that reaches its limit undecided gets one last test: the
candidates' band-energy sketches against all the audio heard
(:meth:`Dejavu.check_sketches`), decided at the one-shot threshold since it
is a single test.
"""
import copy
import dataclasses
import logging
import time
from dataclasses import dataclass

import numpy as np

from dejavu_cn.decision import Rule, decide, rank
from dejavu_cn.errors import ParameterError
from dejavu_cn.fingerprint import StreamingFingerprinter
from dejavu_cn.hashing import distinct, hash_keys
from dejavu_cn.matching import Query, alignment_details
from dejavu_cn.columns import Lookup

from .timeline import SegmentTracker, clustered

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class MicrophoneParams:
    """Live recognition: the ``microphone`` section of the configuration
    (``recognize mic``, ``listen``, and any stream fed to
    :func:`recognize_stream` or :class:`Monitor`)."""

    look_seconds: float = 0.4         # s of audio between two looks (matches)
    min_confidence: float = 0.7       # early decision: confidence each confirming look must reach (one-shot
                                      # default 0.4): a chance alignment that strong has p <= 1e-7
    confirmations: int = 3            # consecutive agreeing looks needed to decide: 3 looks span 0.8 s of new audio
    offset_tolerance: float = 0.1     # s; two looks agree when their song offsets at stream start differ by this
    max_seconds: float = 10.0         # s; a recognition gives up with "no match" after this much audio
    listen_window_seconds: float = 12.0   # s of recent audio a continuous monitor identifies songs from
    recent_seconds: float = 4.0       # s of recent audio checked for "is the song still playing"
    end_seconds: float = 4.0          # s without the playing song before its end is announced
    keep_confidence: float = 0.05     # confidence of the playing song in the recent audio that counts as "still there"
    cache_rows: int = 2_000_000       # database rows cached before rows of forgotten hashes are dropped (48 MB)
    cache_keys: int = 300_000         # hashes remembered as looked up before forgotten ones are dropped (~100 s)

    def look_rule(self):
        """The decision each look of a stream takes (then confirmed over
        ``confirmations`` looks): a stronger match than one query needs,
        since a stream is matched again and again."""
        return Rule(self.min_confidence)

    def validate(self):
        checks = [
            (self.look_seconds > 0, "look_seconds must be > 0"),
            (0.0 <= self.min_confidence <= 1.0 and 0.0 <= self.keep_confidence <= 1.0,
             "min_confidence and keep_confidence must be in [0, 1]"),
            (self.confirmations >= 1, "confirmations must be >= 1"),
            (self.offset_tolerance >= 0, "offset_tolerance must be >= 0"),
            (self.max_seconds > 0, "max_seconds must be > 0"),
            (min(self.listen_window_seconds, self.recent_seconds, self.end_seconds) > 0,
             "listen_window_seconds, recent_seconds and end_seconds must be > 0"),
            (self.cache_rows >= 1 and self.cache_keys >= 1, "cache_rows and cache_keys must be >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ParameterError(f"microphone parameters: {message}")
        return self


def live_params(engine, params=None, **changes):
    """The live-recognition settings: ``params`` (default: the engine's
    configuration's ``microphone`` section) with ``changes`` applied, checked."""
    if params is None:
        params = engine.config.section("microphone", MicrophoneParams)
    return dataclasses.replace(params, **changes).validate() if changes else params


# Heuristics of the monitor, in seconds of stream time (not settings: they
# follow from how a song is heard, whatever the analysis parameters). Where a
# song starts or was last heard is read from clustered match times
# (:func:`recognizers.timeline.clustered`, CLUSTER_SECONDS either side).
STILL_PLAYING_SECONDS = 1.5 # the playing song was confirmed this recently: nothing new to identify
OVERLAP_SECONDS = 0.5       # a new song is looked for from this long before the last one was last heard
PAST_END_SECONDS = 1.0      # the song's position passed its end by this much: it ended


class _Confirmer:
    """Counts consecutive looks that name the same song at the same alignment."""

    def __init__(self, confirmations, offset_tolerance):
        self.confirmations = int(confirmations)
        self.offset_tolerance = float(offset_tolerance)
        self.reset()

    def reset(self):
        self.song_id = None
        self.offset = None
        self.count = 0
        self.first_seconds = None

    def update(self, decision, seconds, *, min_gap):
        """Feed a look's :class:`~dejavu_cn.decision.Decision` at stream time
        ``seconds``; True when its match is confirmed."""
        best = decision.match
        if best is None:
            self.reset()
            return False
        same = (best.song_id == self.song_id
                and abs(best.offset_seconds - self.offset) <= self.offset_tolerance)
        if same:
            self.count += 1
        else:
            self.song_id, self.offset, self.count, self.first_seconds = (
                best.song_id, best.offset_seconds, 1, seconds)
        if self.count < self.confirmations:
            return False
        return self.confirmations == 1 or seconds - self.first_seconds >= min_gap * 0.999


class StreamingMatcher:
    """Incremental recogniser of one audio stream.

    Parameters
    ----------
    engine : dejavu_cn.Dejavu
    params : MicrophoneParams, optional
        Default: the engine configuration's ``microphone`` section.
    **changes
        Fields of :class:`MicrophoneParams` to change (``look_seconds``,
        ``min_confidence``, ``confirmations``, ``offset_tolerance``...).
    window_seconds : float or None
        Keep only the hashes of this many recent seconds (continuous
        monitoring); None keeps everything (one recognition).
    top : int or None
        Candidates reported (default: the configuration's).

    Notes
    -----
    Times are stream seconds: 0 is the first sample fed. A result's
    ``offset_seconds`` is the song position at stream time 0;
    :func:`answer_from_look` turns it into the position at the answer.
    """

    def __init__(self, engine, *, params=None, window_seconds=None, top=None, **changes):
        if window_seconds is not None and window_seconds <= 0:
            raise ParameterError("window_seconds must be > 0 or None")
        self.engine = engine
        self.live = live_params(engine, params, **changes)
        self.params = engine.query_params()
        self.rate = self.params.sample_rate
        self.shifts = engine.config.recognition.query_shifts
        self.look_seconds = self.live.look_seconds
        self.window_seconds = window_seconds
        self.top = top
        self.confirmer = _Confirmer(self.live.confirmations, self.live.offset_tolerance)
        self.last_search = None                     # the last look's Search (candidate objects)
        # one recognition (no window) also keeps the first analysis's band energies, for :meth:`sketch`
        self._fps = [StreamingFingerprinter(self.params, keep_sketch=k == 0 and window_seconds is None and "query")
                     for k in range(self.shifts)]
        # a final hash is released this long after its sound: the window keeps that much more audio
        self._lag_seconds = 1.0 + self._fps[0].lag_frames * self.params.frame_seconds()
        self._skip = [int(round(k * self.params.hop_size / self.shifts)) for k in range(self.shifts)]
        self._hashes = np.zeros((0, 10), np.uint8)   # final hashes, all shifts
        self._times = np.zeros(0, np.int64)          # their query times in sub-frames
        self._lookup = Lookup.empty()
        self._known = np.zeros(0, np.uint64)        # sorted keys already looked up
        self.samples_fed = 0
        self._tail_cache = None
        self._next_look = self.look_seconds
        self.looks = 0
        self.db_seconds = 0.0                       # time spent in database lookups
        self.match_seconds = 0.0                    # time spent fingerprinting tails and aligning

    # -- time ---------------------------------------------------------------
    @property
    def seconds(self):
        """Stream seconds fed so far."""
        return self.samples_fed / self.rate

    def _subframes(self, seconds):
        return int(np.floor(seconds * self.rate / self.params.hop_size * self.shifts))

    # -- feeding -------------------------------------------------------------
    def feed(self, samples):
        """Add mono float32 samples at the analysis rate.

        Returns
        -------
        list of dict
            One entry per look that fell due inside this piece (usually 0
            or 1); see :meth:`look`.
        """
        return self.advance(samples, self.look)

    def advance(self, samples, on_due):
        """Ingest ``samples``, calling ``on_due()`` each time a look falls due
        (every ``look_seconds`` of audio); returns the list of its results."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        out = []
        step = max(1, int(round(self.look_seconds * self.rate)))
        while samples.size:
            due = int(round(self._next_look * self.rate)) - self.samples_fed
            take = samples[:max(0, due)]
            if take.size:
                self._ingest(take)
                samples = samples[take.size:]
            if self.samples_fed >= int(round(self._next_look * self.rate)):
                out.append(on_due())
                self._next_look = (self.samples_fed + step) / self.rate
        return out

    def _ingest(self, samples):
        new_hashes, new_times = [], []
        for k, fp in enumerate(self._fps):
            piece = samples
            if self._skip[k]:
                drop = min(self._skip[k], piece.size)
                self._skip[k] -= drop
                piece = piece[drop:]
            if piece.size:
                out = fp.feed(piece)
                if len(out):
                    new_hashes.append(out.hashes)
                    new_times.append(out.offsets.astype(np.int64) * self.shifts + k)
        self.samples_fed += samples.size
        if new_hashes:
            self._hashes = np.concatenate([self._hashes] + new_hashes)
            self._times = np.concatenate([self._times] + new_times)
        if self.window_seconds is not None:
            self.forget_before(self.seconds - self.window_seconds - self._lag_seconds)

    def forget_before(self, seconds):
        """Drop final hashes older than stream time ``seconds``."""
        cut = self._subframes(seconds)
        if self._times.size and self._times[0] < cut:
            keep = self._times >= cut
            self._hashes, self._times = self._hashes[keep], self._times[keep]

    def _tail(self):
        """Provisional hashes of the audio not yet final (flushed copies);
        computed once per amount of audio fed."""
        if self._tail_cache is not None and self._tail_cache[0] == self.samples_fed:
            return self._tail_cache[1]
        self._tail_cache = (self.samples_fed, self._compute_tail())
        return self._tail_cache[1]

    def _compute_tail(self):
        parts, times = [], []
        for k, fp in enumerate(self._fps):
            if fp.samples_fed == 0:
                continue
            out = copy.deepcopy(fp).flush()
            if len(out):
                parts.append(out.hashes)
                times.append(out.offsets.astype(np.int64) * self.shifts + k)
        if not parts:
            return np.zeros((0, 10), np.uint8), np.zeros(0, np.int64)
        return np.concatenate(parts), np.concatenate(times)

    def _fetch(self, hashes):
        """Look up the hashes not fetched before; keep their rows."""
        if not len(hashes):
            return
        keys = hash_keys(hashes)
        new = ~np.isin(keys, self._known, assume_unique=False)
        if not new.any():
            return
        uniq_keys, first = np.unique(keys[new], return_index=True)
        t0 = time.perf_counter()
        rows = self.engine.lookup(hashes[new][first])
        self.db_seconds += time.perf_counter() - t0
        self._known = distinct(self._known, uniq_keys)
        if rows.keys.size:
            self._lookup = Lookup.concat([self._lookup, rows])
        if self._lookup.keys.size > self.live.cache_rows or self._known.size > self.live.cache_keys:
            self._prune_cache()

    def _prune_cache(self):
        """Drop cached rows of hashes no longer in the query (long monitoring)."""
        live = distinct(hash_keys(self._hashes)) if len(self._hashes) else np.zeros(0, np.uint64)
        keep = np.isin(self._lookup.keys, live)
        self._lookup = Lookup(self._lookup.keys[keep], self._lookup.song_ids[keep], self._lookup.offsets[keep])
        self._known = live

    # -- matching ---------------------------------------------------------------
    def query(self, *, since=None):
        """The query of the audio so far (final + provisional hashes), only
        hashes at stream time >= ``since`` seconds when given."""
        tail_h, tail_t = self._tail()
        hashes = np.concatenate([self._hashes, tail_h])
        times = np.concatenate([self._times, tail_t])
        start = 0.0
        if self.window_seconds is not None:
            start = max(start, self.seconds - self.window_seconds)
        if since is not None:
            start = max(start, since)
        if start > 0:
            keep = times >= self._subframes(start)
            hashes, times = hashes[keep], times[keep]
        return Query(hashes, times, self.shifts, max(0.0, self.seconds - start))

    def match(self, *, since=None, top=None, rule=None):
        """Match the audio so far (see :meth:`query`): the engine's
        :class:`~dejavu_cn.engine.Search`, decided under ``rule`` (default:
        the one-shot ``recognition.rule()``)."""
        t0 = time.perf_counter()
        query = self.query(since=since)
        db0 = self.db_seconds
        self._fetch(query.hashes)
        found = self.engine.search(query, top=top or self.top, lookup=self._lookup, rule=rule)
        self.match_seconds += time.perf_counter() - t0 - (self.db_seconds - db0)
        return found

    def sketch(self):
        """The band-energy sketch of the stream so far (without a window only)."""
        return self._fps[0].sketch()

    def look(self, *, since=None):
        """Match now and update the early decision.

        Returns
        -------
        dict
            The engine's result plus ``seconds_listened`` (stream seconds)
            and ``decided`` (bool: the best candidate is confirmed).
        """
        self.looks += 1
        found = self.last_search = self.match(since=since, rule=self.live.look_rule())
        decided = self.confirmer.update(found.decision, self.seconds, min_gap=self.look_seconds)
        result = found.as_dict()
        result["seconds_listened"] = round(self.seconds, 3)
        result["decided"] = bool(decided)
        best = found.candidates[0] if found.candidates else None
        log.debug("look %d at %.2f s: best %s conf %.3f decided %s", self.looks, self.seconds,
                  best and best.song_id, best.confidence if best else 0.0, decided)
        return result


def answer_from_look(result, *, decided, frame_seconds):
    """Shape a look into the answer of a recognition (like a line of
    ``recognize file --json``): ``match`` is the confirmed best candidate
    with its offset at the moment of the answer, or None."""
    seconds = result["seconds_listened"]

    def moved(c):
        out = dict(c)
        out["offset_seconds"] = round(c["offset_seconds"] + seconds, 3)
        out["offset_frames"] = int(c["offset_frames"] + round(seconds / frame_seconds))
        return out

    candidates = [moved(c) for c in result["candidates"]]
    answer = {
        "match": dict(candidates[0], timings=result["timings"]) if decided and candidates else None,
        "candidates": candidates,
        "query_seconds": result["query_seconds"],
        "decided_seconds": result["decided_seconds"],
        "input_total_hashes": result["input_total_hashes"],
        "timings": result["timings"],
        "seconds_listened": seconds,
    }
    return answer


def recognize_stream(engine, chunks, *, max_seconds=None, on_look=None, **matcher_options):
    """Recognise a stream, stopping as soon as the decision is safe.

    Parameters
    ----------
    engine : dejavu_cn.Dejavu
    chunks : iterable of np.ndarray
        Mono float32 pieces at ``engine.params.sample_rate`` (any sizes).
    max_seconds : float, optional
        Give up with ``match: None`` after this many stream seconds
        (default: ``microphone.max_seconds``).
    on_look : callable(dict), optional
        Called with every look's result (progress, plots).
    **matcher_options
        Passed to :class:`StreamingMatcher`.

    Returns
    -------
    dict
        ``match`` (with ``offset_seconds`` = song position at the answer) or
        None, ``candidates``, ``query_seconds``, ``decided_seconds``, ``input_total_hashes``,
        ``timings`` and ``seconds_listened``. JSON-serialisable.
    """
    matcher = StreamingMatcher(engine, **matcher_options)
    max_seconds = matcher.live.max_seconds if max_seconds is None else max_seconds
    if max_seconds <= 0:
        raise ParameterError("max_seconds must be > 0")
    frame = engine.params.frame_seconds()
    limit = int(round(max_seconds * matcher.rate))
    last = None
    iterator = iter(chunks)
    try:
        for chunk in iterator:
            chunk = np.asarray(chunk, np.float32).reshape(-1)[:max(0, limit - matcher.samples_fed)]
            for result in matcher.feed(chunk):
                last = result
                if on_look is not None:
                    on_look(result)
                if result["decided"]:
                    return answer_from_look(result, decided=True, frame_seconds=frame)
            if matcher.samples_fed >= limit:
                break
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()
    if last is None or last["seconds_listened"] < matcher.seconds:
        last = matcher.look()
        if on_look is not None:
            on_look(last)
    decided = last["decided"] or _decided_by_sketch(engine, last, matcher)
    return answer_from_look(last, decided=decided, frame_seconds=frame)


def _decided_by_sketch(engine, result, matcher):
    """At the end of an undecided stream, one last test on all the audio
    heard: the candidates' band-energy sketches (:meth:`Dejavu.check_sketches`,
    as a file query the hashes leave undecided). One test per stream, so the
    one-shot threshold applies, to a candidate the sketch decided. Updates
    ``result``'s candidates; True if the best is now the answer."""
    rec = engine.config.recognition
    found = matcher.last_search
    checked = found.candidates[:rec.sketch_candidates]
    if not checked:
        return False
    engine.check_sketches(checked, matcher.sketch())
    rank(found.candidates)
    result["candidates"] = [c.as_dict() for c in found.candidates]
    return decide(found.candidates, Rule(rec.threshold, decided_by="sketch")).match is not None


class Monitor:
    """Continuous monitoring of a stream (a radio, a room): announces each
    song when it starts being heard and when it ends or another replaces it,
    never twice while it keeps playing.

    ``feed(samples)`` returns the events that happened (dicts):

    * ``{"event": "song", "time": s, "started": s, "match": {...}}`` -- a
      song is heard; ``started`` is the stream time it was first heard
      (estimated from its offset), ``match`` has the offset at ``time``;
    * ``{"event": "end", "time": s, "song_id": ..., "song_name": ...,
      "last_heard": s, "offset_seconds": ...}`` -- it stopped (silence, speech,
      another song) ``end_seconds`` ago, or ran to its end.

    Times are stream seconds (0 = first sample fed).

    Parameters
    ----------
    engine : dejavu_cn.Dejavu
    **matcher_options
        Passed to :class:`StreamingMatcher`: ``params`` and changed fields
        of :class:`MicrophoneParams`, among them ``listen_window_seconds``
        (recent audio new songs are identified from), ``recent_seconds``
        (recent audio searched for the playing song), ``end_seconds``
        (without the playing song before "end") and ``keep_confidence``
        (its confidence at its alignment in the recent audio that counts
        as still playing).
    """

    def __init__(self, engine, **matcher_options):
        live = live_params(engine, matcher_options.pop("params", None),
                           **{k: matcher_options.pop(k) for k in list(matcher_options)
                              if k in MicrophoneParams.__dataclass_fields__})
        self.matcher = StreamingMatcher(engine, params=live, window_seconds=live.listen_window_seconds,
                                        **matcher_options)
        self.frame = engine.params.frame_seconds()
        self.recent_seconds = live.recent_seconds
        self.end_seconds = live.end_seconds
        self.keep_confidence = live.keep_confidence
        # the playing song's segment and the last one ended: the merge logic the timeline shares
        self.tracker = SegmentTracker(offset_tolerance=2 * live.offset_tolerance)
        self.since = 0.0           # new songs are identified from audio after this time

    @property
    def seconds(self):
        return self.matcher.seconds

    @property
    def current(self):
        """The playing song's match (offset at stream time 0), or None."""
        segment = self.tracker.current
        return segment.match if segment is not None else None

    @property
    def last_heard(self):
        """Stream time the playing song was last confirmed (None: no song playing)."""
        segment = self.tracker.current
        return segment.last_heard if segment is not None else None

    def feed(self, samples):
        """Add mono float32 samples at the analysis rate; returns new events."""
        events = []
        for produced in self.matcher.advance(samples, self._look):
            events.extend(produced)
        return events

    def finish(self):
        """The stream stopped: an "end" event for the playing song, or None."""
        if self.current is None:
            return None
        return self._end_event(self.seconds)

    def _matched_times(self, song_id, offset_seconds, since, query=None):
        """Stream times (s) of the hashes after ``since`` that match a song at
        an alignment (song offset at stream time 0, seconds); ``query``: the
        stream's query since then, when the caller has it already."""
        m = self.matcher
        details = alignment_details(query or m.query(since=since), m._lookup, song_id,
                                    max_rows=m.engine.config.recognition.max_hash_rows)
        near = (np.abs(details["difference_frames"] - offset_seconds / self.frame)
                <= 2 * m.confirmer.offset_tolerance / self.frame)
        return clustered(details["query_frames"][near] * self.frame)

    def _heard_until(self, now):
        """Stream time of the last hash of the recent audio that matches the
        playing song at its alignment, or None when it is not there."""
        m = self.matcher
        since = max(0.0, now - self.recent_seconds)
        recent = m.match(since=since)
        c = self.current
        tolerance = 2 * m.confirmer.offset_tolerance
        if not any(r.song_id == c["song_id"] and r.confidence >= self.keep_confidence
                   and abs(r.offset_seconds - c["offset_seconds"]) <= tolerance for r in recent.candidates):
            return None
        times = self._matched_times(c["song_id"], c["offset_seconds"], since, recent.query)
        return float(times.max()) if times.size else None

    def _end_event(self, now):
        segment = self.tracker.close()
        c, last_heard = segment.match, segment.last_heard
        event = {"event": "end", "time": round(now, 3), "song_id": c["song_id"], "song_name": c["song_name"],
                 "last_heard": round(last_heard, 3), "offset_seconds": round(c["offset_seconds"] + last_heard, 3)}
        self.since = last_heard
        self.matcher.confirmer.reset()
        return event

    def _look(self):
        m, tracker = self.matcher, self.tracker
        now = m.seconds
        events = []
        if tracker.current is not None:
            heard = self._heard_until(now)
            if heard is not None:
                tracker.heard(heard)
            song_pos = self.current["offset_seconds"] + now
            if (tracker.silent_for(now) >= self.end_seconds
                    or song_pos > self.current["song_duration_seconds"] + PAST_END_SECONDS):
                events.append(self._end_event(now))
            elif tracker.silent_for(now) < STILL_PLAYING_SECONDS:
                m.confirmer.reset()
                return events
        since = self.since if self.current is None else max(self.since, self.last_heard - OVERLAP_SECONDS)
        result = m.look(since=since)
        if not result["decided"]:
            return events
        best = result["candidates"][0]
        if self.current is not None:
            if best["song_id"] == self.current["song_id"]:
                return events
            events.append(self._end_event(now))
        segment, resumed = tracker.open(best, started=now, heard=now)
        if resumed:
            log.info("song %s heard again at the same place: not announced again", best["song_id"])
            return events
        times = self._matched_times(best["song_id"], best["offset_seconds"], since)
        started = segment.started = float(times.min()) if times.size else max(since, -best["offset_seconds"])
        events.append({"event": "song", "time": round(now, 3), "started": round(started, 3),
                       "match": answer_from_look(result, decided=True, frame_seconds=self.frame)["match"]})
        return events
