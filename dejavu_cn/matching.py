"""Query analysis and offset-difference alignment.

Pure array code. A query is fingerprinted at several start points a
fraction of a hop apart (a clip cut at an arbitrary sample keeps its hashes;
``RecognitionParams.shifts_for`` gives how many: fewer for long clips, which
have hashes to spare), so query times are counted in sub-frames of
``hop / shifts`` samples.

For every database row that shares a hash with the query, the difference
``song time - query time`` is the song position where the query starts. A
true match piles many rows onto one difference; :func:`align` counts them
with numpy (no loop over rows), merging neighbouring frames (+-1).

Confidence
----------
If the query is not from a song, its hits on that song fall on differences
at random: the count in one 3-frame window is Poisson with mean
``lam = hits * 3 / span`` (``span`` = song frames + query frames). The chance
that some window of some song with hits reaches the observed count ``A`` is
at most ``p = songs_hit * span / 3 * P(Poisson(lam) >= A)``.
``confidence = clip(-log10(p) / 10, 0, 1)``: 0.4 means a chance of one in
10^4 that a random alignment is this strong, 1.0 one in 10^10.

Music makes coincidences cluster more than a Poisson model assumes (drones,
steady beats), so :func:`score_candidates` also discounts the votes the
query's strongest non-significant runner-up reached. The default threshold
(``recognition.threshold``) is 0.4, set on the benchmark so that fewer than
0.5 % of clips of unregistered music are named.
"""
import dataclasses
import functools
from dataclasses import dataclass

import numpy as np
from scipy.special import pdtrc

from .decision import Candidate
from .fingerprint import Fingerprints, Landmarks, StreamingFingerprinter
from .hashing import HASH_BYTES, distinct, hash_keys

MERGE_FRAMES = 1          # +- frames merged into one alignment window
CONFIDENCE_DECADES = 10.0  # -log10(p) that maps to confidence 1.0


@dataclass
class Query:
    """A query's hashes at several start shifts.

    Attributes
    ----------
    hashes : np.ndarray, shape (n, 10), uint8
    times : np.ndarray, shape (n,), int64
        Sub-frames (``hop / shifts`` samples) from the start of the query.
    shifts : int
    duration_seconds : float
    """

    hashes: np.ndarray
    times: np.ndarray
    shifts: int
    duration_seconds: float

    @property
    def hashes_per_shift(self):
        return len(self.times) / max(1, self.shifts)

    @functools.cached_property
    def anchor_frames_per_shift(self):
        """Distinct anchor frames per analysis (the unit of ``Candidate.aligned_frames``)."""
        if len(self.times) == 0:
            return 0.0
        shift = self.times % self.shifts
        return float(distinct(self.times).size) / max(1, distinct(shift).size)

    def __len__(self):
        return int(self.times.shape[0])

    def head(self, seconds, frame_seconds):
        """The hashes whose anchor lies in the first ``seconds`` (a query of that duration)."""
        keep = self.times < int(round(seconds / frame_seconds)) * self.shifts
        return Query(self.hashes[keep], self.times[keep], self.shifts, min(seconds, self.duration_seconds))

    @classmethod
    def of(cls, parts, shifts, duration_seconds):
        """A query of (Fingerprints, shift index) parts."""
        fps = [f for f, _ in parts]
        times = [f.offsets.astype(np.int64) * shifts + k for f, k in parts]
        return cls(np.concatenate([f.hashes for f in fps]) if fps else np.zeros((0, HASH_BYTES), np.uint8),
                   np.concatenate(times) if times else np.zeros(0, np.int64), shifts, duration_seconds)


def query_params(params, recognition):
    """The fingerprint parameters used on queries: denser peaks and a wider
    fan-out than registered songs (see RecognitionParams)."""
    return dataclasses.replace(params, peaks_per_second=params.peaks_per_second * recognition.query_peak_factor,
                               fan_value=max(params.fan_value, recognition.query_fan_value))


class QueryAnalysis:
    """A query fingerprinted at ``shifts`` start points ``hop / shifts``
    apart, progressively: :meth:`head` analyses only as much audio as the
    hashes anchored in the opening seconds need, :meth:`whole` finishes
    (streaming analysis: the same hashes as one pass, nothing done twice).
    The first analysis also keeps the band energies and its peaks, so
    :meth:`sketch` and :meth:`peaks` need no second spectrogram.

    ``params`` are the query's parameters (see :func:`query_params`).
    """

    def __init__(self, samples, params, *, shifts):
        self.samples = np.asarray(samples, dtype=np.float32)
        self.params = params
        self.shifts = shifts
        self.duration_seconds = self.samples.size / params.sample_rate
        self._starts = [int(round(k * params.hop_size / shifts)) for k in range(shifts)]
        self._fps = [StreamingFingerprinter(params, keep_sketch=k == 0 and "query", keep_peaks=k == 0)
                     for k in range(shifts)]
        self._fed = list(self._starts)                       # next sample each analysis reads
        self._parts = []                                     # (Fingerprints, shift) hashed so far
        self._finished = False
        self._sketch = None

    def _feed(self, until=None, *, final=False):
        marks, shift = [], []
        for k, fp in enumerate(self._fps):
            stop = self.samples.size if until is None else min(self.samples.size, self._starts[k] + until)
            if stop > self._fed[k]:
                marks.append(fp.feed_landmarks(self.samples[self._fed[k]:stop], last=final))
                self._fed[k] = stop
            elif final:
                marks.append(fp.flush_landmarks())
            else:
                continue
            shift.append(np.full(len(marks[-1]), k, np.int64))
        landmarks_ = Landmarks.concat(marks)
        if len(landmarks_):                                  # one hashing pass for every shift
            fps = landmarks_.hashed()
            k = np.concatenate(shift)
            self._parts += [(Fingerprints(fps.hashes[k == i], fps.offsets[k == i]), i) for i in range(self.shifts)]

    def head(self, seconds):
        """The query made of the hashes anchored in the first ``seconds``."""
        p = self.params
        frames = int(round(seconds / p.frame_seconds()))
        lag = self._fps[0].lag_frames if self._fps else 0
        until = (frames + lag - 1) * p.hop_size + p.window_size      # samples after which they are final
        if all(start + until >= self.samples.size for start in self._starts):
            self._feed(final=True)
        else:
            self._feed(until)
        return self._query().head(seconds, p.frame_seconds())

    def whole(self):
        """The query made of every hash of the samples."""
        self._finish()
        return self._query()

    def sketch(self):
        """The band-energy sketch of the samples (see :mod:`dejavu_cn.sketch`),
        computed once: each stage of a query may ask for it."""
        if self._sketch is None:
            self._finish()
            self._sketch = self._fps[0].sketch()
        return self._sketch

    def peaks(self):
        """The peaks of the samples (the first analysis's: from sample 0)."""
        self._finish()
        return self._fps[0].peaks

    def _finish(self):
        if not self._finished:
            self._feed(final=True)
            self._finished = True

    def _query(self):
        return Query.of(self._parts, self.shifts, self.duration_seconds)


def analyze_query(samples, params, *, shifts):
    """Fingerprint ``samples`` at ``shifts`` start points ``hop / shifts`` apart.

    ``params`` are the query's parameters (see :func:`query_params`)."""
    return QueryAnalysis(samples, params, shifts=shifts).whole()


def read_order(times, counts, *, bucket_subframes, max_rows):
    """The order in which to read a query's distinct hashes from the index.

    A query's cost is the rows its hashes return, and they grow with the
    library, so a lookup reads the rarest hashes first (most of the song's
    evidence per row read) and stops at a row budget. Taken in rounds
    across the query's duration (the rarest hash of each second, then the
    next rarest of each, ...), so what is read covers the whole clip.

    Parameters
    ----------
    times : np.ndarray, shape (n,), int
        Each hash's time in the query (sub-frames).
    counts : np.ndarray, shape (n,), int
        Rows each hash is expected to return (an upper bound).
    bucket_subframes : int
        Length of one round's time slice (sub-frames; one second).
    max_rows : int
        Hashes expected to return more rows than this are never read (stop
        words): one common pair of notes says little about any song.

    Returns
    -------
    np.ndarray of int
        Indices of the hashes to read, in order; hashes with no rows and
        stop words are left out.
    int
        Stop words left out.
    """
    times = np.asarray(times, np.int64)
    counts = np.asarray(counts, np.int64)
    stop = counts > max_rows
    keep = np.flatnonzero((counts > 0) & ~stop)
    if keep.size == 0:
        return keep, int(stop.sum())
    slot = times[keep] // max(1, int(bucket_subframes))
    by_slot = np.lexsort((counts[keep], slot))                  # each second's hashes, rarest first
    first = np.r_[True, slot[by_slot][1:] != slot[by_slot][:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(by_slot.size), 0))
    rank = np.empty(by_slot.size, np.int64)
    rank[by_slot] = np.arange(by_slot.size) - start            # place within its second
    return keep[np.lexsort((counts[keep], rank))], int(stop.sum())


def _join(query_keys, lookup, max_rows):
    """Pairs (query index, row index) sharing a hash, dropping hashes found in
    more than ``max_rows`` rows (stop words). Vectorised.

    Returns (query indices, row indices, hash index of each pair, stop words).
    """
    order = np.argsort(lookup.keys)
    sorted_keys = lookup.keys[order]
    first = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    uniq = sorted_keys[first]
    counts = np.diff(np.r_[first, sorted_keys.size])
    common = counts > max_rows
    if common.any():
        keep = ~common
        uniq, first, counts = uniq[keep], first[keep], counts[keep]
    if uniq.size == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty, int(common.sum())
    pos = np.minimum(np.searchsorted(uniq, query_keys), uniq.size - 1)
    q_idx = np.nonzero(uniq[pos] == query_keys)[0]
    n_rows = counts[pos[q_idx]]
    starts = first[pos[q_idx]]
    rep = np.repeat(np.arange(q_idx.size), n_rows)
    within = np.arange(rep.size) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows)
    return q_idx[rep], order[starts[rep] + within], pos[q_idx][rep], int(common.sum())


def _vote_order(song, d, qframe):
    """An order that sorts pairs by (song, frame difference, query frame), and
    the sorted (song, difference) bin of each pair, numbered so that bins of
    one song are consecutive integers and bins of two songs are never
    neighbours.

    One sort of one integer key where the ranges allow (always, but for
    absurd song ids), else a three-key lexsort.
    """
    d_min = int(d.min())
    width = int(d.max()) - d_min + 3                  # +-1 bin never reaches another song
    bins = song * width + (d - d_min + 1)
    q_span = int(qframe.max()) + 1
    if (int(song.max()) + 1) * width * q_span < 2 ** 62:
        order = np.argsort(bins * q_span + qframe)
    else:
        order = np.lexsort((qframe, d, song))
    return order, bins[order], width


def align(query, lookup, *, max_rows=2000, top=10, groups=None, group_count=1):
    """Best alignment per song, strongest first.

    A vote is a distinct (song, frame difference, song anchor frame). Hashes
    are not independent evidence: a held note repeats one hash along both the
    query and the song, and two notes with harmonics give a bundle of hashes
    that share one anchor peak. Counting the song's distinct anchor frames in
    a window counts independent coincidences, so chance alignments of
    similar music stay small.

    Parameters
    ----------
    query : Query
    lookup : storage.Lookup
        Rows for (at least) the query's distinct hashes.
    max_rows : int
        Hashes with more rows than this are ignored.
    top : int
        Candidates returned.
    groups : np.ndarray, optional
        A group number in ``[0, group_count)`` for each of the query's
        hashes (the versions of a clip a speed search tries at once): each
        (song, group) is aligned apart, as the candidate ``song_id *
        group_count + group``.

    Returns
    -------
    list of Candidate
        Sorted by ``aligned_frames``, descending; ``confidence`` not yet set.
    dict
        Statistics: ``pairs`` (votes), ``songs_hit``, ``stop_words``.
    """
    stats = {"pairs": 0, "songs_hit": 0, "stop_words": 0}
    votes = _votes(query, lookup, max_rows, groups, group_count, stats)
    if votes is None:
        return [], stats
    diff, anchor, pair_bin, bins, counts, score, width, bin_song, song_starts, best = votes
    best = best[: top * 3]
    hits = np.add.reduceat(counts, song_starts)                          # votes per song, any window
    song_ends = np.r_[song_starts[1:], bins.size]
    song_of = np.searchsorted(song_starts, best, side="right") - 1
    candidates = []
    for b, k in zip(best, song_of):     # a few candidates, not rows: exact counts in each window
        center = bins[b]
        lo, hi = np.searchsorted(pair_bin, [center - MERGE_FRAMES, center + MERGE_FRAMES + 1])
        s0, s1 = song_starts[k], song_ends[k]
        far = np.abs(bins[s0:s1] - center) > 2 * MERGE_FRAMES
        window = np.sort(diff[lo:hi])
        candidates.append(Candidate(song_id=int(bin_song[b]), aligned_frames=len(set(anchor[lo:hi].tolist())),
                                    offset_subframes=float(window[(hi - lo - 1) // 2] + window[(hi - lo) // 2]) / 2,
                                    hits=int(hits[k]), hashes_matched=int(hi - lo),
                                    repeat_votes=int(score[s0:s1][far].max()) if far.any() else 0))
    candidates.sort(key=lambda c: (-c.aligned_frames, c.song_id))
    return candidates[:top], stats


def best_songs(query, lookup, *, max_rows=2000, top=10):
    """The ``top`` songs of :func:`align`'s first ranking (each song's best
    window of votes), without its exact count per candidate: which songs
    deserve the rest of a query's rows (two-stage matching), at the cost
    of one sort of the votes however many songs they name.

    Returns
    -------
    np.ndarray of int
        Song ids, strongest first.
    """
    votes = _votes(query, lookup, max_rows, None, 1, {})
    if votes is None:
        return np.zeros(0, np.int64)
    *_, bin_song, _, best = votes
    return bin_song[best[:top]].astype(np.int64)


def _votes(query, lookup, max_rows, groups, group_count, stats):
    """The votes of :func:`align`, binned by (song, frame difference) and
    scored over neighbouring bins; None without any. Fills ``stats``."""
    if len(query) == 0 or lookup.keys.size == 0:
        return None
    S = query.shifts
    q_idx, r_idx, h_idx, stats["stop_words"] = _join(hash_keys(query.hashes), lookup, max_rows)
    if q_idx.size == 0:
        return None
    anchor = lookup.offsets[r_idx]
    diff = anchor * S - query.times[q_idx]                            # sub-frames
    d = np.floor_divide(diff + S // 2, S)                              # frames
    # sorted by (song, d, anchor), one sort: anchor = d + query frame, so the
    # query frame stands in for the anchor within a bin
    song = lookup.song_ids[r_idx] if groups is None else lookup.song_ids[r_idx] * group_count + groups[q_idx]
    order, pair_bin, width = _vote_order(song, d, anchor - d)
    diff, anchor = diff[order], anchor[order]
    vote = np.r_[True, (pair_bin[1:] != pair_bin[:-1]) | (anchor[1:] != anchor[:-1])]
    votes_bin = pair_bin[vote]                                          # sorted
    stats["pairs"] = int(votes_bin.size)
    starts = np.flatnonzero(np.r_[True, votes_bin[1:] != votes_bin[:-1]])
    bins, counts = votes_bin[starts], np.diff(np.r_[starts, votes_bin.size])
    score = counts.copy()
    for step in range(1, MERGE_FRAMES + 1):      # neighbours within +-MERGE_FRAMES: bins are sorted and
        for ahead in range(1, step + 1):         # distinct, so bin + step is at most ``step`` places on
            near = bins[ahead:] - bins[:-ahead] == step
            score[:-ahead] += np.where(near, counts[ahead:], 0)
            score[ahead:] += np.where(near, counts[:-ahead], 0)
    bin_song = bins // width
    song_starts = np.flatnonzero(np.r_[True, bin_song[1:] != bin_song[:-1]])
    stats["songs_hit"] = int(song_starts.size)
    # best bin per song (ties: the later difference), strongest songs first
    order_b = np.lexsort((score, bin_song))
    best = order_b[np.r_[bin_song[order_b][1:] != bin_song[order_b][:-1], True]]
    best = best[np.argsort(-score[best], kind="stable")]
    return diff, anchor, pair_bin, bins, counts, score, width, bin_song, song_starts, best


def alignment_details(query, lookup, song_id, *, max_rows=2000):
    """Every hash match between the query and one song (plots, and
    :func:`fit_time`); a stop word is judged on the song's own rows.

    Returns
    -------
    dict of np.ndarray
        ``query_seconds_factor``-free arrays: ``query_frames`` (float, query
        time of each match in frames), ``song_frames`` (int) and
        ``difference_frames`` (float, song minus query).
    """
    if len(query) == 0 or lookup.keys.size == 0:
        empty = np.zeros(0)
        return {"query_frames": empty, "song_frames": empty, "difference_frames": empty}
    mine = lookup.select(lookup.song_ids == song_id)     # the song's rows only: a join of hundreds, not thousands
    q_idx, r_idx, _, _ = _join(hash_keys(query.hashes), mine, max_rows)
    q_frames = query.times[q_idx] / query.shifts
    s_frames = mine.offsets[r_idx]
    return {"query_frames": q_frames, "song_frames": s_frames, "difference_frames": s_frames - q_frames}


def fit_time(query, lookup, song_id, offset_frames, *, max_rows=2000, max_change=0.06, tolerance=2.0):
    """The line ``song frame = start + rate * query frame`` through a
    match's votes: where in the song the clip starts and how fast it plays
    the song's time (a copy at another tempo, or a speed change too small
    to move its hashes' bins, is found by the index, but its votes drift
    off one offset: the candidate's offset is that of its densest stretch).

    The hash matches within ``max_change`` (a share of the clip's length)
    of the candidate's offset are fitted, then those within ``tolerance``
    frames of the line, twice. Returns (start frames, rate, distinct song
    anchor frames on the line, the rate's standard error, the query frames
    the line spans), or None with fewer than 8 of them."""
    found = alignment_details(query, lookup, song_id, max_rows=max_rows)
    q, s = found["query_frames"], found["song_frames"].astype(np.float64)
    if q.size < 8 or q.max() - q.min() <= 0:
        return None
    keep = np.abs(s - q - offset_frames) <= max(2 * tolerance, max_change * q.max())
    for _ in range(3):
        if distinct(s[keep]).size < 8:
            return None
        rate, start = np.polyfit(q[keep], s[keep], 1)
        keep = np.abs(s - (start + rate * q)) <= tolerance
    on_line = int(distinct(s[keep]).size)
    if on_line < 8:
        return None
    x, residual = q[keep], s[keep] - (start + rate * q[keep])
    error = np.sqrt(np.sum(residual ** 2) / max(1, x.size - 2) / max(np.sum((x - x.mean()) ** 2), 1e-9))
    return float(start), float(rate), on_line, float(error), float(np.ptp(x))


def chance_p_value(aligned, hits, span_frames, songs_hit, *, searched_frames=None):
    """Probability that chance alone gives ``aligned`` votes in some window
    (see the module docstring).

    ``searched_frames``: when the offset was predicted independently (the
    speech comparison's DTW), only the windows within this many frames could
    have produced the alignment, not the whole ``span_frames``."""
    if aligned <= 0:
        return 1.0
    span = max(float(span_frames), 1.0)
    width = 2 * MERGE_FRAMES + 1
    lam = max(hits, aligned) * width / span
    searched = span if searched_frames is None else float(searched_frames)
    windows = max(1.0, searched / width) * max(1, songs_hit)
    tail = float(pdtrc(aligned - 1, lam))                   # P(X >= aligned); 0 when below 1e-308
    return float(min(1.0, tail * windows))


NULL_ALLOWANCE = 2          # runner-up votes a true match may share with chance before it is discounted


def score_candidates(candidates, spans, songs_hit, threshold, *, min_aligned=0):
    """Set ``p_value`` and ``confidence`` on each candidate.

    First each candidate is scored alone (:func:`chance_p_value`). Then the
    query's own empirical null is taken into account: the strongest
    candidate that is *not* significant alone shows how far chance reaches
    for this query (a drone or a steady beat makes coincidences cluster
    more than the Poisson model assumes). A candidate's count is reduced by
    that runner-up's count beyond ``NULL_ALLOWANCE`` before it is scored.
    Candidates significant on their own (the same audio registered twice)
    are not part of the null, so duplicates do not cancel each other.

    Parameters
    ----------
    candidates : list of Candidate
    spans : list of float
        Song frames + query frames, per candidate.
    songs_hit : int
    threshold : float
        The decision threshold on confidence.
    min_aligned : int
        Candidates with fewer aligned frames get p-value 1 and confidence 0
        (``recognition.min_aligned_frames``: triplets match in bursts, one
        chord giving several, which the Poisson model does not expect).
    """
    alone = [confidence_from_p(chance_p_value(c.aligned_frames, c.hits, span, songs_hit))
             for c, span in zip(candidates, spans)]
    for i, (c, span) in enumerate(zip(candidates, spans)):
        null = max([o.aligned_frames for j, o in enumerate(candidates) if j != i and alone[j] < threshold] + [0])
        effective = c.aligned_frames - max(0, null - NULL_ALLOWANCE)
        c.p_value = chance_p_value(effective, c.hits, span, songs_hit) if c.aligned_frames >= min_aligned else 1.0
        c.confidence = confidence_from_p(c.p_value)
    return candidates


def confidence_from_p(p_value):
    """Map a chance probability to a confidence in [0, 1]."""
    if p_value <= 0:
        return 1.0
    return float(np.clip(-np.log10(p_value) / CONFIDENCE_DECADES, 0.0, 1.0)) + 0.0
