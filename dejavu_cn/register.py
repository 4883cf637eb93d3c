"""Registering files and folders: walk -> skip known -> decode and
fingerprint in worker processes -> store each song in one transaction.

Resumable by construction: a song and its fingerprints are committed
together, so an interrupted run (Ctrl-C, a killed process) leaves complete
songs only, and the next run skips them (same path, size and modification
time: no read; same bytes under another name: by SHA-1).
"""
import logging
import multiprocessing
import os
import signal
import stat
import time
from dataclasses import asdict, dataclass, field


from .audio import file_sha1, iter_decode
from .config import RegisterParams
from .errors import AudioDecodeError, DuplicateSongError, StorageError
from .fingerprint import Fingerprints, StreamingFingerprinter, drop_repeated
from .sketch import to_bytes
from .storage.base import SongRecord

log = logging.getLogger(__name__)

REGISTERED, SKIPPED, DUPLICATE, FAILED = "registered", "skipped", "duplicate", "failed"
FAILED_BEFORE = "failed_before"     # failed in an earlier run and unchanged since: not tried (see Dejavu.register)
STATUSES = (REGISTERED, SKIPPED, DUPLICATE, FAILED, FAILED_BEFORE)


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
        return sum(o.duration_seconds for o in self.by_status(REGISTERED))

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


def fingerprint_path(path, params, chunk_seconds=30.0):
    """Decode and fingerprint one file in constant memory.

    Returns
    -------
    (Fingerprints, np.ndarray, float)
        The hashes to store (see :func:`~dejavu_cn.fingerprint.drop_repeated`),
        the sketch (see :mod:`dejavu_cn.sketch`) and the duration in seconds.
    """
    fp = StreamingFingerprinter(params, keep_sketch=True)
    parts = [fp.feed(chunk) for chunk in iter_decode(path, target_rate=params.sample_rate,
                                                       chunk_seconds=chunk_seconds)]
    parts.append(fp.flush())
    fps = drop_repeated(Fingerprints.concat(parts), params.max_hash_repeats)
    return fps, fp.sketch(), fp.samples_fed / params.sample_rate


# -- worker side ---------------------------------------------------------------------
_WORKER = {}


def _worker_init(params, known_sha1s, in_child=True):
    if in_child:
        signal.signal(signal.SIGINT, signal.SIG_IGN)     # the parent handles Ctrl-C
    _WORKER["params"] = params
    _WORKER["known"] = known_sha1s


def _work(path):
    """Runs in a worker: returns (outcome, sha1, hashes, offsets, mtime_ns, sketch bytes)."""
    params, known = _WORKER["params"], _WORKER["known"]
    shown = readable_path(path)
    try:
        st = os.stat(path)
        special = special_file(path, st.st_mode)       # replaced by a FIFO since it was listed
        if special is not None:
            return special, None, None, None, 0, b""
        sha = file_sha1(path)
        if sha in known:
            return (FileOutcome(shown, DUPLICATE, known[sha], f"same content as song {known[sha]}", size=st.st_size),
                    sha, None, None, 0, b"")
        fps, words, duration = fingerprint_path(path, params)
        if duration <= 0:
            raise AudioDecodeError(path, "no audio samples")
        outcome = FileOutcome(shown, REGISTERED, duration_seconds=duration, hashes=len(fps), size=st.st_size)
        return outcome, sha, fps.hashes, fps.offsets, st.st_mtime_ns, to_bytes(words)
    except AudioDecodeError as exc:
        return _failed(shown, exc.message)
    except OSError as exc:
        return _failed(shown, f"cannot read: {exc.strerror or exc}")
    except Exception as exc:   # one bad file must not end a run of thousands
        log.exception("unexpected error on %s", shown)
        return _failed(shown, f"unexpected error: {exc!r}")


def _failed(path, message):
    return FileOutcome(path, FAILED, message=message), None, None, None, 0, b""


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
        outcomes = self.outcomes
        self.songs, self.outcomes, self.rows, self.since = [], [], 0, None
        for outcome, result in zip(outcomes, results):
            if isinstance(result, DuplicateSongError):
                outcome.status, outcome.song_id = DUPLICATE, result.song_id
                outcome.message = f"same content as song {result.song_id}"
            elif isinstance(result, StorageError):
                outcome.status, outcome.hashes = FAILED, 0
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
                   song_name=None, left_out=(), settings=None):
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
                           registered=registered, song_name=song_name, settings=settings or RegisterParams())
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


def _fingerprint_and_store(storage, params, todo, sizes, *, jobs, report, on_file, registered, song_name, settings):
    """Fingerprint ``todo`` in ``jobs`` processes (1: in this one) and
    commit the songs in batches. Ctrl-C sets ``report.interrupted`` after
    committing what was fingerprinted; the pool never outlives the call."""
    known = storage.known_sha1s()
    jobs = jobs or os.cpu_count() or 1
    jobs = max(1, min(jobs, len(todo) or 1))
    pool = batch = None
    finished = False
    try:
        if jobs == 1:
            _worker_init(params, known, in_child=False)
            results = map(_work, todo)
        else:
            # large files first: the pool's tail is not one long file
            todo.sort(key=lambda p: -sizes[p])
            storage.close_readers()          # no lookup threads of ours in the forked workers
            pool = multiprocessing.get_context("fork").Pool(jobs, _worker_init, (params, known))
            results = _with_ticks(pool.imap_unordered(_work, todo, chunksize=1), max(0.05, settings.commit_seconds / 2))
        batch = _CommitBatch(storage, report, on_file, settings)
        _store_results(results, batch, storage, registered, song_name)
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


def _store_results(results, batch, storage, registered, song_name):
    """Hand each worker result to ``batch`` (a registered song waits for
    its commit, any other outcome is recorded at once), committing
    whenever the batch is due and once at the end. ``None`` items (a pause
    with no result) only give the batch its chance to commit."""
    for item in results:
        if item is None:                  # no file finished lately: commit what waits
            if batch.due():
                batch.commit()
            continue
        outcome, sha, hashes, offsets, mtime_ns, sketch = item
        if outcome.status == REGISTERED:
            batch.add(outcome, SongRecord(readable_path(song_name(outcome.path)), outcome.path, sha, outcome.size,
                                          mtime_ns, outcome.duration_seconds, sketch), hashes, offsets)
        else:
            if outcome.status == DUPLICATE and outcome.path in registered:
                # the file there changed to the bytes of another song: its old song goes
                storage.forget_path(outcome.path, outcome.song_id)
            batch.done(outcome)
        if batch.due():
            batch.commit()
    batch.commit()


