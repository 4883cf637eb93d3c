"""Registering files and folders: walk -> skip known -> decode and
fingerprint in worker processes -> store each song in one transaction.

Resumable by construction: a song and its fingerprints are committed
together, so an interrupted run (Ctrl-C, a killed process) leaves complete
songs only, and the next run skips them (same path, size and modification
time: no read; same bytes under another name: by SHA-1).

With ``link_copies`` (:class:`CopyLinker`), each file is first matched
against the library in segments spread over its length (the songs stored
earlier in the run included): a copy of a registered song (another
encoding, an excerpt, a noisy repost) is stored as a link to it, without
fingerprints; a file that covers a registered song (the registered one was
the excerpt) is stored as its original, and the registered song becomes its
copy, in the same transaction (:func:`judge_copy` decides).
"""
import logging
import multiprocessing
import os
import signal
import stat
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .audio import file_sha1, iter_decode
from .config import RegisterParams
from .errors import AudioDecodeError, DuplicateSongError, StorageError
from .fingerprint import Fingerprints, StreamingFingerprinter, drop_repeated
from .matching import QueryAnalysis
from .sketch import to_bytes
from .storage.base import SongRecord

log = logging.getLogger(__name__)

REGISTERED, SKIPPED, DUPLICATE, FAILED = "registered", "skipped", "duplicate", "failed"
FAILED_BEFORE = "failed_before"     # failed in an earlier run and unchanged since: not tried (see Dejavu.register)
LINKED = "linked"                   # stored as a copy of a registered song, without fingerprints (link_copies)
STATUSES = (REGISTERED, LINKED, SKIPPED, DUPLICATE, FAILED, FAILED_BEFORE)


@dataclass
class FileOutcome:
    """What happened to one file."""

    path: str
    status: str                  # one of STATUSES
    song_id: int = None
    message: str = ""
    duration_seconds: float = 0.0
    hashes: int = 0
    size: int = 0
    copy_of: int = None          # linked: the original's song id...
    copy_offset_seconds: float = None    # ...and where this file starts in it (s)
    copies: list = field(default_factory=list)    # an original that took over registered songs: their ids


@dataclass
class RegisterReport:
    """The outcome of a registration run."""

    outcomes: list = field(default_factory=list)
    interrupted: bool = False
    elapsed_seconds: float = 0.0

    def by_status(self, status):
        return [o for o in self.outcomes if o.status == status]

    @property
    def failed(self):
        return self.by_status(FAILED)

    @property
    def audio_seconds(self):
        return sum(o.duration_seconds for o in self.outcomes if o.status in (REGISTERED, LINKED))

    def to_dict(self):
        counts = {s: len(self.by_status(s)) for s in STATUSES}
        return {
            "counts": counts,
            "interrupted": self.interrupted,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "audio_seconds": round(self.audio_seconds, 3),
            "speed_x_realtime": round(self.audio_seconds / self.elapsed_seconds, 1) if self.elapsed_seconds else None,
            "files": [asdict(o) for o in self.outcomes],
        }


def readable_path(path):
    """``path`` as it can be stored and shown: itself if it is valid
    Unicode, else with each byte of its name that is not UTF-8 written as
    ``\\xNN`` (Python's backslashreplace; ``os.walk`` gives such bytes as
    lone surrogates, which no database or terminal takes)."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", "backslashreplace")


_SPECIAL_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                  (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def special_file(path, mode):
    """A :class:`FileOutcome` for a path that is not a regular file (reading
    a FIFO or /dev/zero would never end), or None for a regular one. Such a
    file is left unread and listed with the files that could not be
    registered (status failed), with the reason."""
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in _SPECIAL_KINDS if test(mode)), "not a regular file")
    if os.path.islink(path):
        kind += f", through a link to {readable_path(os.path.realpath(path))}"
    return FileOutcome(readable_path(path), FAILED, message=f"skipped, not read: not a regular file ({kind})")


def collect_files(paths, extensions):
    """Files to register: named files as they are, folders walked recursively
    for the given extensions. Only regular files (or links to them) are
    taken.

    Returns
    -------
    (list of str, list of FileOutcome)
        The files, sorted and unique; and the paths left out (status
        failed, with the reason): missing or not regular files.
    """
    exts = {"." + e.lower().lstrip(".") for e in extensions}
    files, left_out = [], []

    def take(path):
        try:
            mode = os.stat(path).st_mode
        except OSError as exc:
            left_out.append(FileOutcome(readable_path(path), FAILED, message=f"cannot read: {exc.strerror or exc}"))
            return
        if stat.S_ISDIR(mode):
            return mode
        special = special_file(path, mode)
        if special is not None:
            left_out.append(special)
        else:
            files.append(path)

    for path in paths:
        path = os.path.abspath(os.fspath(path))
        if not os.path.lexists(path):
            left_out.append(FileOutcome(readable_path(path), FAILED, message="no such file or directory"))
        elif take(path) is not None:
            for root, dirs, names in os.walk(path):
                dirs.sort()
                for n in sorted(names):
                    if os.path.splitext(n)[1].lower() in exts and not n.startswith("."):
                        take(os.path.join(root, n))
    unique = list(dict.fromkeys(files))
    return unique, list({o.path: o for o in left_out}.values())


class SegmentSampler:
    """Segments of a stream of samples, spread over its length, kept while
    it streams (its length is not known in advance): consecutive segments
    of ``length`` samples while they are at most ``most``; past that, every
    other one, then every 4th... (the stride doubles), so at most ``most``
    are held at once."""

    def __init__(self, length, most):
        self.length = max(1, int(length))
        self.stride = self.length
        self.most = max(1, int(most))
        self.parts = {}                     # first sample: [pieces]
        self.fed = 0

    def feed(self, chunk):
        chunk = np.asarray(chunk, np.float32)
        p, n = self.fed, chunk.size
        if n:
            for k in range(p // self.stride, (p + n - 1) // self.stride + 1):
                start = k * self.stride
                a, b = max(start, p), min(start + self.length, p + n)
                if b > a:
                    self.parts.setdefault(start, []).append(chunk[a - p:b - p].copy())
        self.fed += n
        while len(self.parts) > self.most:
            self.stride *= 2
            self.parts = {s: v for s, v in self.parts.items() if s % self.stride == 0}

    def segments(self):
        """[(first sample, samples)] in order; a last segment shorter than
        half the length is left out (unless it is the only one)."""
        out = []
        for start in sorted(self.parts):
            x = np.concatenate(self.parts[start])
            if x.size * 2 >= self.length or not out:
                out.append((start, x))
        return out


def fingerprint_path(path, params, chunk_seconds=30.0, *, sampler=None):
    """Decode and fingerprint one file in constant memory (``sampler``, a
    :class:`SegmentSampler`, is fed the samples too).

    Returns
    -------
    (Fingerprints, np.ndarray, float)
        The hashes to store (see :func:`~dejavu_cn.fingerprint.drop_repeated`),
        the sketch (see :mod:`dejavu_cn.sketch`) and the duration in seconds.
    """
    fp = StreamingFingerprinter(params, keep_sketch="song")
    parts = []
    for chunk in iter_decode(path, target_rate=params.sample_rate, chunk_seconds=chunk_seconds):
        parts.append(fp.feed(chunk))
        if sampler is not None:
            sampler.feed(chunk)
    parts.append(fp.flush())
    fps = drop_repeated(Fingerprints.concat(parts), params.max_hash_repeats)
    return fps, fp.sketch(), fp.samples_fed / params.sample_rate


# -- worker side ---------------------------------------------------------------------
_WORKER = {}


def _worker_init(params, known_sha1s, in_child=True, segments=None):
    if in_child:
        signal.signal(signal.SIGINT, signal.SIG_IGN)     # the parent handles Ctrl-C
    _WORKER["params"] = params
    _WORKER["known"] = known_sha1s
    _WORKER["segments"] = segments


def _segment_queries(sampler, settings):
    """[(start s, Query)] of a sampler's segments, as recognition analyses them."""
    query_params, recognition = settings
    rate = query_params.sample_rate
    return [(start / rate, QueryAnalysis(x, query_params, shifts=recognition.shifts_for(x.size / rate)).whole())
            for start, x in sampler.segments()]


def _work(path):
    """Runs in a worker: returns (outcome, sha1, hashes, offsets, mtime_ns, sketch bytes, segments);
    segments: [(start s, Query)] when copies are linked, else None."""
    params, known, segments = _WORKER["params"], _WORKER["known"], _WORKER.get("segments")
    shown = readable_path(path)
    try:
        st = os.stat(path)
        special = special_file(path, st.st_mode)       # replaced by a FIFO since it was listed
        if special is not None:
            return special, None, None, None, 0, b"", None
        sha = file_sha1(path)
        if sha in known:
            return (FileOutcome(shown, DUPLICATE, known[sha], f"same content as song {known[sha]}", size=st.st_size),
                    sha, None, None, 0, b"", None)
        sampler = None
        if segments is not None:
            sampler = SegmentSampler(segments[0].copy_segment_seconds * params.sample_rate, segments[0].copy_segments)
        fps, words, duration = fingerprint_path(path, params, sampler=sampler)
        if duration <= 0:
            raise AudioDecodeError(path, "no audio samples")
        outcome = FileOutcome(shown, REGISTERED, duration_seconds=duration, hashes=len(fps), size=st.st_size)
        queries = _segment_queries(sampler, segments[1:]) if sampler is not None else None
        return outcome, sha, fps.hashes, fps.offsets, st.st_mtime_ns, to_bytes(words), queries
    except AudioDecodeError as exc:
        return _failed(shown, exc.message)
    except OSError as exc:
        return _failed(shown, f"cannot read: {exc.strerror or exc}")
    except Exception as exc:   # one bad file must not end a run of thousands
        log.exception("unexpected error on %s", shown)
        return _failed(shown, f"unexpected error: {exc!r}")


def _failed(path, message):
    return FileOutcome(path, FAILED, message=message), None, None, None, 0, b"", None


class _CommitBatch:
    """Fingerprinted songs waiting for their transaction.

    Several songs share one commit (each commit rewrites every index page
    it touched, which for one song is most of a large index); a song and
    its rows still land together or not at all. ``on_file`` hears of a
    registered song once it is committed. A batch is committed at
    ``settings.commit_rows`` rows or after ``settings.commit_seconds``.
    """

    def __init__(self, storage, report, on_file, settings):
        self.storage, self.report, self.on_file, self.settings = storage, report, on_file, settings
        self.songs, self.outcomes, self.rows, self.since = [], [], 0, None

    def add(self, outcome, record, hashes, offsets):
        self.songs.append((record, hashes, offsets))
        self.outcomes.append(outcome)
        self.rows += len(offsets)
        self.since = self.since or time.monotonic()

    def due(self):
        return bool(self.songs) and (self.rows >= self.settings.commit_rows
                                     or time.monotonic() - self.since >= self.settings.commit_seconds)

    def commit(self):
        if not self.songs:
            return
        try:
            results = self.storage.add_songs(self.songs)    # all or nothing: kept for a retry if it fails
        except StorageError as exc:
            if not getattr(exc, "row_error", False):
                raise
            results = self._one_by_one()                    # one song's values failed: it alone must fail
        outcomes, songs = self.outcomes, self.songs
        self.songs, self.outcomes, self.rows, self.since = [], [], 0, None
        for outcome, (record, hashes, _), result in zip(outcomes, songs, results):
            if outcome.status == LINKED and record.copy_of is None and not isinstance(result, Exception):
                outcome.message = (f"its original, song {outcome.copy_of}, was deleted meanwhile: "
                                   "stored as an original")
                outcome.status, outcome.hashes, outcome.copy_of, outcome.copy_offset_seconds = \
                    REGISTERED, len(hashes), None, None
                log.info("%s: %s", outcome.path, outcome.message)
            if isinstance(result, DuplicateSongError):
                outcome.status, outcome.song_id = DUPLICATE, result.song_id
                outcome.message = f"same content as song {result.song_id}"
            elif isinstance(result, StorageError):
                outcome.status, outcome.hashes, outcome.copy_of, outcome.copy_offset_seconds = FAILED, 0, None, None
                outcome.message = f"cannot be stored: {result}"
                log.warning("skipped %s: %s", outcome.path, outcome.message)
            else:
                outcome.song_id = result
        self.report.outcomes.extend(outcomes)
        for outcome in outcomes:
            self._notify(outcome)

    def _one_by_one(self):
        """Each waiting song in a transaction of its own: a result per song,
        the StorageError for those whose values the database refuses."""
        results = []
        for song in self.songs:
            try:
                results.extend(self.storage.add_songs([song]))
            except StorageError as exc:
                if not getattr(exc, "row_error", False):
                    raise
                results.append(exc)
        return results

    def done(self, outcome):
        """Record an outcome that needs no commit (failed, duplicate)."""
        self.report.outcomes.append(outcome)
        if outcome.status == FAILED:
            log.info("failed: %s: %s", outcome.path, outcome.message)   # the caller reports it (on_file, report)
        self._notify(outcome)

    def _notify(self, outcome):
        if self.on_file:
            self.on_file(outcome)


def _with_ticks(results, seconds):
    """The pool's results, with a ``None`` whenever ``seconds`` pass without one."""
    while True:
        try:
            yield results.next(timeout=seconds)
        except multiprocessing.TimeoutError:
            yield None
        except StopIteration:
            return


def register_files(storage, params, paths, *, extensions, jobs=0, on_file=None, on_start=None,
                   song_name=None, left_out=(), settings=None, linker=None):
    """Register files and folders.

    Parameters
    ----------
    storage : Storage
    params : FingerprintParams
    paths : list of str
        Files and folders (walked recursively).
    extensions : iterable of str
        File extensions taken from folders (``"mp3"``, ...).
    jobs : int
        Worker processes; 0 = all cores, 1 = in this process.
    on_start : callable(total_files, total_bytes), optional
    on_file : callable(FileOutcome), optional
        Called after each file (progress bars).
    song_name : callable(path) -> str, optional
        Default: the file name without its extension.
    settings : RegisterParams, optional
        How songs are batched into transactions (``commit_rows``,
        ``commit_seconds``); default: the defaults.
    linker : CopyLinker, optional
        Link copies of registered songs instead of storing them again
        (each song is then committed before the next file is matched).

    Returns
    -------
    RegisterReport
        Ctrl-C stops the run early with ``interrupted`` set; what was
        committed stays.
    """
    started = time.monotonic()
    report = RegisterReport()
    song_name = song_name or (lambda p: os.path.splitext(os.path.basename(p))[0])
    files, own = collect_files(paths, extensions)
    for outcome in list(left_out) + own:
        report.outcomes.append(outcome)
        log.info("%s: %s", outcome.path, outcome.message)
    registered = storage.registered_files()
    todo, sizes = _changed_files(files, registered, report)
    if on_start:
        on_start(len(todo), sum(sizes.values()))
    for outcome in report.outcomes:
        if on_file and outcome.status == FAILED:
            on_file(outcome)
    _fingerprint_and_store(storage, params, todo, sizes, jobs=jobs, report=report, on_file=on_file,
                           registered=registered, song_name=song_name, settings=settings or RegisterParams(),
                           linker=linker)
    added = sum(o.hashes for o in report.by_status(REGISTERED))
    if not report.interrupted and added:
        storage.optimize(added_rows=added)      # the store decides whether repacking pays
    report.elapsed_seconds = time.monotonic() - started
    return report


def _changed_files(files, registered, report):
    """The files to fingerprint: those not registered with their present
    size and mtime. The others, and those that cannot be read, go into
    ``report``. Returns (paths, {path: size in bytes})."""
    todo, sizes = [], {}
    for path in files:
        try:
            st = os.stat(path)
        except OSError as exc:
            report.outcomes.append(FileOutcome(readable_path(path), FAILED, message=f"cannot read: {exc.strerror}"))
            continue
        if registered.get(readable_path(path)) == (st.st_size, st.st_mtime_ns):
            report.outcomes.append(FileOutcome(readable_path(path), SKIPPED, message="already registered",
                                               size=st.st_size))
            continue
        todo.append(path)
        sizes[path] = st.st_size
    return todo, sizes


def _fingerprint_and_store(storage, params, todo, sizes, *, jobs, report, on_file, registered, song_name, settings,
                           linker=None):
    """Fingerprint ``todo`` in ``jobs`` processes (1: in this one) and
    commit the songs in batches. Ctrl-C sets ``report.interrupted`` after
    committing what was fingerprinted; the pool never outlives the call."""
    known = storage.known_sha1s()
    jobs = jobs or os.cpu_count() or 1
    jobs = max(1, min(jobs, len(todo) or 1))
    segments = None if linker is None else (settings,) + linker.query_settings
    pool = batch = None
    finished = False
    try:
        if linker is not None or jobs > 1:
            # large files first: the pool's tail is not one long file, and originals tend to come before
            # their excerpts
            todo.sort(key=lambda p: -sizes[p])
        if jobs == 1:
            _worker_init(params, known, in_child=False, segments=segments)
            results = map(_work, todo)
        else:
            storage.close_readers()          # no lookup threads of ours in the forked workers
            pool = multiprocessing.get_context("fork").Pool(jobs, _worker_init, (params, known, True, segments))
            results = _with_ticks(pool.imap_unordered(_work, todo, chunksize=1), max(0.05, settings.commit_seconds / 2))
        batch = _CommitBatch(storage, report, on_file, settings)
        _store_results(results, batch, storage, registered, song_name, linker)
        finished = True
    except KeyboardInterrupt:
        report.interrupted = True
        log.info("registration interrupted; completed songs are saved, run again to resume")
        if batch is not None:
            batch.commit()          # what was fingerprinted before Ctrl-C is kept
    finally:
        if pool is not None:
            if not finished:            # Ctrl-C or a storage error: do not wait for the rest
                pool.terminate()
            else:
                pool.close()
            pool.join()


def _store_results(results, batch, storage, registered, song_name, linker=None):
    """Hand each worker result to ``batch`` (a registered song waits for
    its commit, any other outcome is recorded at once), committing
    whenever the batch is due and once at the end. ``None`` items (a pause
    with no result) only give the batch its chance to commit."""
    for item in results:
        if item is None:                  # no file finished lately: commit what waits
            if batch.due():
                batch.commit()
            continue
        outcome, sha, hashes, offsets, mtime_ns, sketch, segments = item
        if outcome.status == REGISTERED:
            record = SongRecord(readable_path(song_name(outcome.path)), outcome.path, sha, outcome.size,
                                mtime_ns, outcome.duration_seconds, sketch)
            if linker is not None and segments:
                if batch.songs:               # the library it is matched against holds every song before it
                    batch.commit()
                    storage.expire_counts()
                linker.decide(outcome, record, segments)
            batch.add(outcome, record, hashes, offsets)
        else:
            if outcome.status == DUPLICATE and outcome.path in registered:
                # the file there changed to the bytes of another song: its old song goes
                storage.forget_path(outcome.path, outcome.song_id)
            batch.done(outcome)
        if batch.due():
            batch.commit()
    batch.commit()




# -- copies (link_copies) -------------------------------------------------------------
@dataclass
class CopyVerdict:
    """What :func:`judge_copy` found a file to be.

    ``kind``: ``"copy"`` (of ``copy_of``, starting ``offset_seconds`` into
    it) or ``"original"`` (stored with its fingerprints; ``covers`` lists
    the registered songs it covers as (song id, where each starts in this
    file, s), which become its copies). ``overlaps``: (song id, song name,
    share of this file) of registered songs covering part of it only.
    """

    kind: str
    copy_of: int = None
    offset_seconds: float = None
    covers: list = field(default_factory=list)
    overlaps: list = field(default_factory=list)
    message: str = ""
    names: dict = field(default_factory=dict)     # song id: name, of the songs above...
    durations: dict = field(default_factory=dict)     # ...and seconds
    places: dict = field(default_factory=dict)        # song covered: every place in this file (s) it could start


def judge_copy(segments, duration_seconds, *, coverage=0.9, tolerance=0.25):
    """Decide whether a file is a copy of a registered song, or covers some.

    Parameters
    ----------
    segments : list of (start s, length s, result)
        The file's segments, each matched on its own (``result``: a dict
        as :meth:`~dejavu_cn.engine.Search.as_dict` gives, ``match`` and
        ``candidates``).
    duration_seconds : float
        The file's.
    coverage : float
        Share, in [0.5, 1], of the file (a copy) or of the registered song
        (the file covers it) that must be covered at one offset.
    tolerance : float
        Seconds two segments' offsets may differ by and still agree.

    A song is aligned with the file at each offset (the song's time minus
    the file's) that a segment decided for it (by the recognition rule)
    gives. At an alignment, a segment *agrees* if the song is among its
    candidates at that offset (an undecided segment then counts too: chance
    does not repeat an offset); it *repeats* if its best candidate is the
    song at another offset (music that repeats itself: the segment's audio
    is in the song, at more than one place); other segments count against.
    The file is a copy of the song if the segments that agree make up
    ``coverage`` of those that do not repeat, and half of all, and the song
    spans ``coverage`` of the file at that offset. Otherwise the file
    covers the song if, at that offset, the file spans ``coverage`` of the
    song and the segments lying within the song that do not repeat agree by
    ``coverage`` (at least one).

    Returns
    -------
    CopyVerdict
    """
    segments = [(float(start), float(length), result) for start, length, result in segments]
    total = sum(length for _, length, _ in segments)
    names, durations, votes = {}, {}, {}
    for start, _, result in segments:
        match = result.get("match")
        if match:
            votes.setdefault(int(match["song_id"]), []).append(float(match["offset_seconds"]) - start)
        for c in result.get("candidates", ()):
            names.setdefault(int(c["song_id"]), c.get("song_name", ""))
            durations.setdefault(int(c["song_id"]), float(c.get("song_duration_seconds") or 0.0))

    def verdict_of(result, start, song, delta):
        """'agrees', 'repeats' or None (see above)."""
        candidates = result.get("candidates", ())
        if any(int(c["song_id"]) == song and abs(float(c["offset_seconds"]) - start - delta) <= tolerance
               for c in candidates):
            return "agrees"
        return "repeats" if candidates and int(candidates[0]["song_id"]) == song else None

    alignments = []                      # (agreeing share of what does not repeat, song, delta, per segment)
    for song, deltas in votes.items():
        centres = []
        for d in sorted(deltas, key=lambda d: -sum(abs(e - d) <= tolerance for e in deltas)):
            if all(abs(d - c) > tolerance for c in centres):
                centres.append(d)
        for centre in centres:
            delta = float(np.median([d for d in deltas if abs(d - centre) <= tolerance]))
            said = [(start, length, verdict_of(r, start, song, delta)) for start, length, r in segments]
            agree = sum(n for _, n, v in said if v == "agrees")
            rest = sum(n for _, n, v in said if v is None)
            alignments.append((agree / (agree + rest) if agree + rest else 0.0, agree / total if total else 0.0,
                               song, delta, said))
    alignments.sort(key=lambda a: (-a[0], -a[1], a[2]))

    def spans(delta, song):
        """Seconds the file and the song share at ``delta``."""
        return max(0.0, min(delta + duration_seconds, durations[song]) - max(delta, 0.0))

    for share, of_all, song, delta, _ in alignments:
        if share >= coverage and of_all >= 0.5 and duration_seconds and \
                spans(delta, song) >= coverage * duration_seconds:
            offset = round(delta, 3)
            return CopyVerdict("copy", song, offset, message=f"a copy of song {song} ({names[song]}) from "
                               f"{offset:.2f} s, {share:.0%} of it matched")
    verdict = CopyVerdict("original")
    best = {}                            # song: (agreeing seconds, delta) of its best covering alignment
    for share, of_all, song, delta, said in alignments:
        lo, hi = max(0.0, -delta), min(duration_seconds, durations[song] - delta)     # the song, in the file
        if not durations[song] or hi - lo < coverage * durations[song]:
            continue
        inside = [(s, n, v) for s, n, v in said if s >= lo - 0.5 and s + n <= hi + 0.5] or \
                 [(s, n, v) for s, n, v in said if min(s + n, hi) - max(s, lo) >= n / 2]
        agree = sum(n for _, n, v in inside if v == "agrees")
        rest = sum(n for _, n, v in inside if v is None)
        if agree and agree >= coverage * (agree + rest):
            verdict.places.setdefault(song, []).append(round(-delta, 3))
            if agree > best.get(song, (0.0,))[0]:
                best[song] = (agree, delta)
    verdict.covers = [(song, round(-delta, 3)) for song, (_, delta) in sorted(best.items())]
    seen = set(best)
    for share, of_all, song, delta, _ in sorted(alignments, key=lambda a: -a[1]):
        if song not in seen and of_all >= 0.2:
            seen.add(song)
            verdict.overlaps.append((song, names[song], round(of_all, 3)))
    verdict.names = {s: names[s] for s in seen}
    verdict.durations = {s: durations[s] for s in seen}
    verdict.message = judge_message(verdict)
    return verdict


def judge_message(verdict):
    """What a :class:`CopyVerdict` of kind original says (empty if nothing)."""
    names = verdict.names
    parts = []
    if verdict.covers:
        parts.append("covers " + ", ".join(f"song {s} ({names[s]}, from {o:.2f} s in this file)"
                                           for s, o in verdict.covers)
                     + ": stored as the original, " + ("it is" if len(verdict.covers) == 1 else "they are")
                     + " now linked to it")
    if len({s for s, _, _ in verdict.overlaps}) >= 2:
        parts.append("a mashup: covers " + " and ".join(f"song {s} ({n}, {share:.0%})"
                                                       for s, n, share in verdict.overlaps)
                     + " in part; stored as a new original")
    elif verdict.overlaps:
        s, n, share = verdict.overlaps[0]
        parts.append(f"covers {share:.0%} of its length from song {s} ({n}); stored as a new original")
    return "; ".join(parts)


class CopyLinker:
    """Links copies while registering (``register.link_copies``).

    Parameters
    ----------
    match_segments : callable(list of Query) -> list of dict
        Matches a file's segments against the library, each on its own
        (:meth:`~dejavu_cn.engine.Dejavu.match_segments`).
    query_settings : (FingerprintParams, RecognitionParams)
        How the workers analyse the segments (as recognition does).
    coverage : float
        See :func:`judge_copy`.
    place_song : callable(path, song_id, [around s], song s) -> float or None, optional
        Where a registered song starts in a file, near one of some places
        (:meth:`~dejavu_cn.engine.Dejavu.place_song`): refines the place of
        a song the file covers (sampled segments of music that repeats
        itself can agree on a place one phrase off).
    """

    def __init__(self, match_segments, query_settings, *, coverage=0.9, place_song=None):
        self.match_segments = match_segments
        self.query_settings = tuple(query_settings)
        self.coverage = coverage
        self.place_song = place_song

    def decide(self, outcome, record, segments):
        """Judge a fingerprinted file by its segments [(start s, Query)] and
        say so in ``record`` (what to store) and ``outcome``."""
        results = self.match_segments([q for _, q in segments])
        verdict = judge_copy([(start, q.duration_seconds, r) for (start, q), r in zip(segments, results)],
                             outcome.duration_seconds, coverage=self.coverage)
        if verdict.covers and self.place_song is not None:
            placed = [(song, self.place_song(record.source_path, song, verdict.places.get(song, [at]),
                                             verdict.durations[song]))
                      for song, at in verdict.covers]
            verdict.covers = [(song, at if at is not None else old)
                              for (song, at), (_, old) in zip(placed, verdict.covers)]
            verdict.message = judge_message(verdict)
        if verdict.kind == "copy":
            record.copy_of, record.copy_offset_seconds = verdict.copy_of, verdict.offset_seconds
            outcome.status, outcome.hashes = LINKED, 0
            outcome.copy_of, outcome.copy_offset_seconds = verdict.copy_of, verdict.offset_seconds
        elif verdict.covers:
            record.demotes = tuple(verdict.covers)
            outcome.copies = [song for song, _ in verdict.covers]
        outcome.message = verdict.message
        if verdict.message:
            log.info("%s: %s", outcome.path, verdict.message)
        return verdict
