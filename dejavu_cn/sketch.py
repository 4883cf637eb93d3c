"""Band-energy sketches: a second description of the audio, for the clips
whose peaks drown.

A hash needs two peaks of the song to stand out of the query, so under
strong noise (a speaker heard through a room, pink noise at 5 dB SNR)
quiet passages keep only a handful of chance-level votes. The sketch
describes the same audio by its coarse spectral shape instead: per frame of
the fingerprint spectrogram, the power in ``SKETCH_BITS + 1`` log-spaced
bands between ``sketch_min_frequency`` and ``sketch_max_frequency`` is
summed over ``sketch_smoothing_frames`` frames and taken as its share of
the frame's energy, and bit ``b`` of frame ``t`` says whether the
difference between the shares of bands ``b`` and ``b + 1`` grew from
frame ``t`` to ``t + 1`` (the sign of a difference in frequency and in
time, after Haitsma and Kalker's sub-fingerprints). Each band integrates
many bins over 371 ms, and a stationary noise or a fixed equaliser adds
next to nothing to a difference of differences, so a noisy copy keeps
far more than half of the bits where no peak survives.

Shares make the bits blind to level: where only the level of a steady
spectrum moves (a swell, a fade to silence) a difference of energies
follows the level, and any fade agreed with any other (the first format,
``fingerprint.sketch_levels`` "linear", which databases made before keep);
a difference of shares does not move, and a bit whose difference is
almost nothing (``FLAT``: silence, a held tone) gets filler bits that agree
with nothing (:func:`filler_bits`).

:func:`dejavu_cn.fingerprint.sketch_of` computes it from samples (and a
:class:`~dejavu_cn.fingerprint.StreamingFingerprinter` alongside the hashes).
A song's sketch is one ``uint32`` per frame (172 bytes a second: 0.6 MB an
hour, against 13 to 22 MB of hashes). It is never searched as an index:
:func:`verify` checks the candidates the hashes propose, at their offset
and over their whole song, when none of them reached the decision threshold
on hashes alone; :func:`agreement_at` corroborates a match on few hashes at
its offset (:meth:`dejavu_cn.Dejavu.corroborate`).

Evidence is a z-score: ``(0.5 - bit error rate) * sqrt(frames) / SKETCH_SPREAD``
(the bits of unrelated audio disagree half the time, with a spread that
falls as the square root of the frames compared). Its chance probability
comes from a null measured on seven corpora of music and five kinds of
other audio (``bench/fp.py``: 3,799 clips of 1-10 s, clean and
microphone-like, of audio the library does not hold): the largest z among
a clip's wrong candidates passed 5.9 in 1 % of the clips and 6.7 in 0.1 %,
at the candidate's offset and over its whole song alike (the most 7.45);
beyond 5.9 the chance falls a decade per 0.82 (:func:`chance_p_value`; the
slope from the 1 % to the 0.1 % mark, which leaves the most of the 3,799 at
p 1.3e-4). Each corpus held out in turn passes the other clips' 1 % mark in
0 to 3 % of its clips.
"""
import numpy as np

SKETCH_BITS = 32
SKETCH_SPREAD = 0.138        # z-score scale: null spread of the bit error rate is 0.138 / sqrt(frames)
LOCAL_FRAMES = 4             # a candidate's offset is checked +- this many frames
LOCAL_1PCT, LOCAL_DECADE = 5.9, 0.82     # per query: P(best wrong z at the offsets > 5.9) = 1 %, /10 per 0.82
SONG_1PCT, SONG_DECADE = 5.9, 0.82       # the same over every offset of the candidates' songs...
SONG_STARTS = 6560                       # ...of this many frames on average (152 s): a longer song offers
                                         # more chances, its p is scaled up in proportion
SCAN_EVERY = 4              # a search over the whole song compares every 4th pair of frames first...
SCAN_KEEP = 16              # ...then these best starts on every frame (a query of 2 s or more)
FLOOR = 1e-10                # power (re full scale) added to a frame's total: digital silence has no shares
FLAT = 1e-6                  # a difference of differences of shares below this carries no bit
SIDES = {"song": 0x5BD1E995, "query": 0x1B873593}    # filler bits of a registered song and of a query differ
MIN_FRAMES = 8               # a query shorter than this many sketch frames (0.2 s past the smoothing) is not checked


def band_edges(params):
    """FFT bins bounding the sketch's ``SKETCH_BITS + 1`` bands (strictly increasing)."""
    bin_hz = params.sample_rate / params.window_size
    edges = np.round(np.geomspace(params.sketch_min_frequency, params.sketch_max_frequency,
                                  SKETCH_BITS + 2) / bin_hz).astype(np.int64)
    for i in range(1, edges.size):
        edges[i] = max(edges[i], edges[i - 1] + 1)
    return edges


def band_energy(power, first_bin, edges):
    """Per frame, the power in each band: ``power`` holds FFT bins from
    ``first_bin`` on (which must cover ``edges``). Returns (frames, bands) float32."""
    lo = int(edges[0]) - first_bin
    if lo < 0 or int(edges[-1]) - first_bin > power.shape[1]:
        raise ValueError("the spectrogram does not cover the sketch's bands")
    if power.shape[0] == 0:
        return np.zeros((0, edges.size - 1), np.float32)
    return np.add.reduceat(power[:, lo:int(edges[-1]) - first_bin], edges[:-1] - edges[0], axis=1)


def filler_bits(first, count, side):
    """Bits for frames ``first .. first + count - 1`` that carry no
    information: a fixed pseudo-random function of the frame's index, the
    band and ``side``, so that they agree with nothing (not with another
    silence, nor with the other side's filler at the same index)."""
    frame = np.arange(first, first + count, dtype=np.uint64)[:, None]
    band = np.arange(SKETCH_BITS, dtype=np.uint64)[None, :]
    x = frame * np.uint64(0x9E3779B97F4A7C15) + band * np.uint64(0xC2B2AE3D27D4EB4F) + np.uint64(SIDES[side])
    x ^= x >> np.uint64(31)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(29)
    return (x >> np.uint64(40)) & np.uint64(1) == 1


def sketch_words(energy, smoothing, *, levels="linear", side="song", first=0, block=16384):
    """The sketch of band energies ((frames, bands) array): one ``uint32``
    per frame, frame ``t`` comparing the energies summed over frames
    ``t .. t + smoothing - 1`` and ``t + 1 .. t + smoothing``. Computed
    ``block`` frames at a time, so a two-hour file needs a few MB, not hundreds.

    ``levels`` "shares" compares each band's share of the frame's energy:
    a change of level alone (a swell, a fade) moves no bit, and a bit whose
    difference is below ``FLAT`` (silence, a held tone) is filler
    (:func:`filler_bits` of ``side``, "song" or "query", for frames counted
    from ``first``). "linear", the first format, compares the energies
    themselves, so that any fade agrees with any other."""
    count = energy.shape[0] - smoothing
    if count <= 0:
        return np.zeros(0, np.uint32)
    words = np.empty(count, np.uint32)
    for start in range(0, count, block):
        stop = min(count, start + block)
        part = np.asarray(energy[start:stop + smoothing], np.float64)
        summed = np.lib.stride_tricks.sliding_window_view(part, smoothing, axis=0).sum(axis=-1)
        if levels == "shares":
            summed /= summed.sum(axis=1, keepdims=True) + FLOOR * smoothing
        across = summed[:, :-1] - summed[:, 1:]
        change = across[1:] - across[:-1]
        bits = change > 0
        if levels == "shares":
            flat = np.abs(change) < FLAT
            if flat.any():
                bits = np.where(flat, filler_bits(first + start, stop - start, side), bits)
        words[start:stop] = np.packbits(bits, axis=1, bitorder="little").view("<u4").reshape(-1)
    return words


def to_bytes(words):
    return np.asarray(words, "<u4").tobytes()


def from_bytes(data):
    return np.frombuffer(bytes(data), "<u4").astype(np.uint32)


def mismatches(song, query, starts=None, *, every=1):
    """Differing bits between ``query`` and ``song[k : k + len(query)]`` for
    every start ``k`` in ``starts`` (default: every start in the song).
    Without ``starts``, ``every`` > 1 compares one pair of frames in
    ``every`` only (a coarse pass)."""
    n = song.size - query.size + 1
    if query.size == 0 or n <= 0:
        return np.zeros(0, np.int64)
    if starts is None:
        # two frames per uint64: half the passes over the song
        pairs = song[:-1].astype(np.uint64) | (song[1:].astype(np.uint64) << np.uint64(32))
        qpairs = query[:-1].astype(np.uint64) | (query[1:].astype(np.uint64) << np.uint64(32))
        total = np.zeros(n, np.int64)
        for j in range(0, query.size - 1, 2 * every):
            total += np.bitwise_count(pairs[j:j + n] ^ qpairs[j])
        if query.size % 2 and every == 1:
            total += np.bitwise_count(song[query.size - 1:query.size - 1 + n] ^ query[-1])
        return total
    starts = np.asarray(starts, np.int64)
    return np.bitwise_count(song[starts[:, None] + np.arange(query.size)] ^ query).sum(axis=1, dtype=np.int64)


def best_start(song, query):
    """The start in ``song`` where ``query`` differs least: (start, differing
    bits, starts searched). A query of ``SCAN_KEEP`` * ``SCAN_EVERY`` * 2
    frames or more is compared first on one pair of frames in
    ``SCAN_EVERY`` at every start, then on all its frames at the
    ``SCAN_KEEP`` best of those (a quarter of the work; a true match stands
    far apart from chance on a quarter of its frames already)."""
    n = song.size - query.size + 1
    if query.size < SCAN_KEEP * SCAN_EVERY * 2 or n <= SCAN_KEEP:
        errors = mismatches(song, query)
        k = int(np.argmin(errors))
        return k, int(errors[k]), n
    coarse = mismatches(song, query, every=SCAN_EVERY)
    starts = np.sort(np.argpartition(coarse, SCAN_KEEP)[:SCAN_KEEP])
    errors = mismatches(song, query, starts)
    k = int(np.argmin(errors))
    return int(starts[k]), int(errors[k]), n


def z_score(errors, frames):
    """Evidence of a match from its differing bits over ``frames`` frames."""
    rate = np.asarray(errors, np.float64) / (SKETCH_BITS * max(frames, 1))
    return (0.5 - rate) * np.sqrt(max(frames, 1)) / SKETCH_SPREAD


def chance_p_value(z, *, whole_song, starts=SONG_STARTS):
    """Chance that the best wrong candidate of a query reaches ``z`` (at
    its offset, or anywhere in songs of ``starts`` possible offsets)."""
    if whole_song:
        scale = max(1.0, starts / SONG_STARTS)
        return float(min(1.0, scale * 10.0 ** (-2.0 - (z - SONG_1PCT) / SONG_DECADE)))
    return float(min(1.0, 10.0 ** (-2.0 - (z - LOCAL_1PCT) / LOCAL_DECADE)))


def verify(query, candidates, sketches):
    """Check candidates against their songs' sketches.

    Parameters
    ----------
    query : np.ndarray of uint32
        The query's sketch.
    candidates : list of (song_id, offset_frames)
        What the hashes propose.
    sketches : dict
        song_id -> that song's sketch (uint32); songs without one are skipped.

    Returns
    -------
    dict
        song_id -> (p_value, offset_frames, bit_error_rate): the better of
        the check at the proposed offset (+- ``LOCAL_FRAMES``) and the best
        offset anywhere in the song.
    """
    out = {}
    for song_id, offset in candidates:
        best = None
        for whole, start, errors, starts in checks(sketches.get(song_id), query, offset):
            p = chance_p_value(float(z_score(errors, query.size)), whole_song=whole, starts=starts)
            if best is None or p < best[0]:
                best = (p, start, float(errors) / (SKETCH_BITS * query.size))
        if best is not None:
            out[song_id] = best
    return out


def agreement_at(song, query, offset):
    """How far ``song``'s sketch agrees with ``query``'s at ``offset``
    (the best start within ``LOCAL_FRAMES``): (z-score, bit error rate), or
    None where :func:`checks` has nothing to compare (no sketch, a short
    query)."""
    near = [t for t in checks(song, query, offset) if not t[0]]
    if not near:
        return None
    errors = near[0][2]
    return float(z_score(errors, query.size)), float(errors) / (SKETCH_BITS * query.size)


def checks(song, query, offset):
    """What :func:`verify` weighs for one candidate: ``(whole_song, start,
    differing bits, starts searched)`` of the best start within
    ``LOCAL_FRAMES`` of ``offset`` (whole_song False) and anywhere in the
    song (True); none for a query under ``MIN_FRAMES`` frames, a song
    without a sketch (None) or one shorter than the query."""
    if query.size < MIN_FRAMES or song is None or song.size < query.size:
        return []
    tries = []
    near = np.arange(max(0, offset - LOCAL_FRAMES), min(song.size - query.size, offset + LOCAL_FRAMES) + 1)
    if near.size:
        errors = mismatches(song, query, near)
        k = int(np.argmin(errors))
        tries.append((False, int(near[k]), int(errors[k]), near.size))
    tries.append((True, *best_start(song, query)))
    return tries
