"""Subsequence dynamic time warping: where in a long reference does a short
query fit best, and how far does that fit stand out from the rest?

Pure array code: feature matrices in, frame indices and distances out.
"""
import numpy as np


def subsequence_dtw(cost):
    """Best alignment of all of a query with some stretch of a reference.

    Steps (1, 1), (1, 2) and (2, 1) (local slope between 1/2 and 2); the
    (2, 1) step adds the skipped query frame's cost, so every path sums exactly
    one cost per query frame. Loops over query frames only; each row is one
    numpy operation over the reference.

    Parameters
    ----------
    cost : np.ndarray, shape (n, m)
        Distance between query frame ``i`` and reference frame ``j``.

    Returns
    -------
    per_end : np.ndarray, shape (m,)
        Mean cost per query frame of the best path ending at reference frame
        ``j`` (inf where none can).
    starts : np.ndarray, shape (m,), int64
        Reference frame where that path starts.
    """
    cost = np.asarray(cost)
    n, m = cost.shape
    inf = np.inf
    cols = np.arange(m)
    d1, s1 = cost[0].copy(), cols.copy()                 # row i - 1: cumulative cost, start column
    d2, s2 = np.full(m, inf), np.zeros(m, np.int64)      # row i - 2
    stack = np.empty((3, m))
    starts = np.empty((3, m), np.int64)
    for i in range(1, n):                                 # rows only: memory stays O(m)
        stack.fill(inf)
        starts.fill(0)
        stack[0, 1:], starts[0, 1:] = d1[:-1], s1[:-1]                   # step (1, 1)
        if m > 2:
            stack[1, 2:], starts[1, 2:] = d1[:-2], s1[:-2]               # step (1, 2)
        if i >= 2:
            stack[2, 1:], starts[2, 1:] = d2[:-1] + cost[i - 1, 1:], s2[:-1]   # step (2, 1)
        choice = np.argmin(stack, axis=0)
        d2, s2 = d1, s1
        d1, s1 = cost[i] + stack[choice, cols], starts[choice, cols]
    return d1 / n, s1


def best_path(query, reference):
    """The best subsequence-DTW path of ``query`` features in ``reference``'s,
    and how far it stands out from the best paths ending elsewhere.

    Parameters
    ----------
    query : np.ndarray, shape (n, d)
        Normalised features of a sentence.
    reference : np.ndarray, shape (m, d)
        Normalised features of the whole original.

    Returns
    -------
    dict or None
        ``start_frame``, ``end_frame`` (exclusive) in the reference,
        ``distance`` (mean Euclidean distance per query frame along the path,
        divided by sqrt(d): 0 for identical features, about 1.4 for
        unrelated normalised ones) and ``z`` (how many standard deviations
        the path's distance lies below the median over all end frames).
        None when no path fits (a query of fewer than 2 frames, or more than
        twice as long as the reference: the slope is limited to 2).
    """
    from scipy.spatial.distance import cdist
    n = query.shape[0]
    if n < 2 or reference.shape[0] < max(2, n // 2):
        return None
    cost = (cdist(query, reference, "euclidean") / np.sqrt(query.shape[1])).astype(np.float32)
    per_end, starts = subsequence_dtw(cost)
    finite = np.isfinite(per_end)
    if not finite.any():
        return None
    end = int(np.argmin(per_end))
    best = float(per_end[end])
    typical = float(np.median(per_end[finite]))
    spread = float(np.std(per_end[finite]))
    z = (typical - best) / spread if spread > 0 else 0.0
    return {"start_frame": int(starts[end]), "end_frame": end + 1, "distance": best, "z": z}
