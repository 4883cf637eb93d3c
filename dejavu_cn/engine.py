"""The engine: composes configuration, storage, fingerprinting and matching.

Familiar to worldveil/dejavu users::

    from dejavu_cn import Dejavu
    from recognizers import FileRecognizer

    djv = Dejavu({"database_type": "sqlite", "database": {"path": "songs.sqlite3"}})
    djv.fingerprint_directory("music/", ["mp3", "ogg"])
    result = djv.recognize(FileRecognizer, "clip.wav")

Opening an engine has no side effects on the database beyond creating the
schema; the store is opened on first use.
"""
import logging
import os
import threading
import time
from dataclasses import dataclass, replace

import numpy as np

from .audio import decode_file, file_sha1, iter_decode
from .changes import describe_change, mapped_query
from .columns import Lookup
from .config import FOLLOWED_FINGERPRINT, IMPLIED_FINGERPRINT, load_config
from .decision import Decision, Rule, decide, rank
from .errors import AudioDecodeError
from .hashing import HASH_BYTES, distinct, hash_keys
from .matching import (Query, QueryAnalysis, align, best_songs, confidence_from_p, fit_time, query_params,
                       read_order, score_candidates)
from .register import (DUPLICATE, FAILED_BEFORE, LINKED, REGISTERED, SKIPPED, CopyLinker, FileOutcome,
                       collect_files, fingerprint_path, register_files)
from .sketch import agreement_at, from_bytes, to_bytes, verify
from .storage import HasCopiesError, open_storage

log = logging.getLogger(__name__)

def _unchanged(path, remembered):
    """Whether a file still has the size and modification time it failed with."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return (st.st_size, st.st_mtime_ns) == (remembered["size"], remembered["mtime_ns"])


class Dejavu:
    """An audio fingerprint library on one database.

    Parameters
    ----------
    config : dict, Config, str or None
        A configuration dict (the shape of ``config.json``), a
        :class:`Config`, a path to a JSON file, or None for the defaults.
    storage : Storage, optional
        Use this store instead of the one the configuration names (shared
        by every thread: the caller makes it safe).

    One engine serves a whole process: each thread that uses it gets a
    database connection of its own (:attr:`storage`), the schema being
    created and the parameters checked once, by the first.
    """

    def __init__(self, config=None, *, storage=None):
        self.config = load_config(config)
        self._storage = storage
        self._local = threading.local()       # .store: this thread's store
        self._stores = []                     # every store opened for a thread (close() closes them)
        self._stores_lock = threading.Lock()
        self._set_up = False                  # the schema exists and the parameters match
        self._own_storage = False             # self._storage was opened here (an in-memory database)
        if storage is not None:
            import dataclasses
            storage.setup(dataclasses.asdict(self.config.fingerprint), implied=IMPLIED_FINGERPRINT,
                          followed=FOLLOWED_FINGERPRINT)
            self._follow(storage)

    def _follow(self, store):
        """Use the database's values of the parameters it decides (an older
        database's sketch format): its songs were analysed so, and queries must be."""
        self._set_up = True
        followed = getattr(store, "followed_parameters", None)
        if followed:
            import dataclasses
            log.info("%s: using the database's %s", store.description,
                     ", ".join(f"{k}={v!r}" for k, v in sorted(followed.items())))
            self.config = dataclasses.replace(
                self.config, fingerprint=dataclasses.replace(self.config.fingerprint, **followed))

    # -- plumbing ------------------------------------------------------------
    @property
    def params(self):
        """The fingerprint parameters (:class:`FingerprintParams`): the
        configuration's, but for those an existing database decides
        (:data:`~dejavu_cn.config.FOLLOWED_FINGERPRINT`; the database is
        opened to know them)."""
        if not self._set_up:
            _ = self.storage
        return self.config.fingerprint

    @property
    def storage(self):
        """The calling thread's store, opened on first use (an in-memory
        SQLite database has one store, which every thread shares)."""
        if self._storage is not None:
            return self._storage
        store = getattr(self._local, "store", None)
        if store is not None:
            return store
        if self.config.database_type == "sqlite" and self.config.database.path == ":memory:":
            self._storage, self._own_storage = open_storage(self.config), True
            self._follow(self._storage)
            return self._storage
        with self._stores_lock:
            setup = not self._set_up
            store = open_storage(self.config, setup=setup)
            if setup:
                self._follow(store)
            self._stores.append(store)
        self._local.store = store
        return store

    def close(self):
        """Close every connection the engine opened (they open again if it is used)."""
        with self._stores_lock:
            stores, self._stores = self._stores, []
            self._local = threading.local()
        for store in stores:
            store.close()
        if self._storage is not None:
            self._storage.close()
            if self._own_storage:
                self._storage = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- registering -------------------------------------------------------------
    def register(self, paths, *, extensions=None, jobs=None, on_file=None, on_start=None, retry_failed=False,
                 link_copies=None):
        """Register files and folders; see :func:`dejavu_cn.register.register_files`.

        Failures are remembered in the database: a file that failed before
        and is unchanged since (same size and modification time) is not
        tried again, unless ``retry_failed``; it comes back as an outcome
        with status ``FAILED_BEFORE`` and the earlier reason. A file that
        registers (or is found registered) is forgotten there.

        ``link_copies`` (default ``register.link_copies``): store copies of
        registered songs as links to them (:class:`~dejavu_cn.register.CopyLinker`)."""
        storage = self.storage
        extensions = extensions or self.config.register.extensions
        files, left_out = collect_files(paths, extensions)
        remembered = {f["path"]: f for f in storage.register_failures()}
        todo, before = [], []
        for path in files:
            known = remembered.get(path)
            if known is not None and not retry_failed and _unchanged(path, known):
                before.append(FileOutcome(path, FAILED_BEFORE, message=known["reason"], size=known["size"]))
            else:
                todo.append(path)
        settings = self.config.register
        link = settings.link_copies if link_copies is None else link_copies
        linker = CopyLinker(self.match_segments, (self.query_params(), self.config.recognition),
                            coverage=settings.copy_coverage, place_song=self.place_song) if link else None
        report = register_files(storage, self.params, todo, extensions=extensions,
                                jobs=settings.jobs if jobs is None else jobs,
                                on_file=on_file, on_start=on_start, left_out=left_out,
                                settings=settings, linker=linker)
        report.outcomes.extend(before)
        failed = []
        for outcome in report.failed:
            try:
                st = os.stat(outcome.path)
            except OSError:           # gone: nothing to recognise it by next time
                continue
            failed.append((outcome.path, st.st_size, st.st_mtime_ns, outcome.message))
        storage.remember_failures(failed)
        storage.forget_failures([o.path for o in report.outcomes if o.path in remembered
                                 and o.status in (REGISTERED, LINKED, SKIPPED, DUPLICATE)])
        return report

    def fingerprint_directory(self, path, extensions=None, nprocesses=None, **kwargs):
        """Register every audio file under ``path`` (dejavu's name)."""
        return self.register([path], extensions=extensions, jobs=nprocesses, **kwargs)

    def fingerprint_file(self, path, song_name=None):
        """Register one file. Returns its :class:`FileOutcome`."""
        report = register_files(self.storage, self.params, [path], extensions=(), jobs=1,
                                song_name=(lambda p: song_name) if song_name else None,
                                settings=self.config.register)
        return report.outcomes[0]

    def match_segments(self, queries, *, budget=None):
        """Match analysed segments of one file (:class:`~dejavu_cn.matching.Query`
        objects), each on its own, by :meth:`search` on at most ``budget``
        rows each (default ``register.copy_row_budget``; the rarest hashes
        first, see :class:`QueryReader`): a list of result dicts (the shape
        of :meth:`match_samples`'s). What registering with ``link_copies``
        judges a file by."""
        budget = self.config.register.copy_row_budget if budget is None else budget
        found = []
        for query in queries:
            reader = QueryReader(self).read(query, budget)
            found.append(self.search(query, lookup=reader.lookup, songs_searched=reader.songs_searched()).as_dict())
        return found

    def place_song(self, path, song_id, around_seconds, song_seconds, *, margin_seconds=5.0):
        """Where the registered song ``song_id`` (``song_seconds`` long)
        starts in the file ``path``, near one of the places ``around_seconds``
        (a list; and places between and about them, a quarter of the song
        apart). The stretch of the file around each place (a margin either
        side) is matched as a clip is, at the query's density, all of it
        (registration hashes alone lie on one frame grid, which music
        repeating itself fools by a phrase); the stretch where the song
        aligns with the most hashes wins. Music that loops holds the song at
        several places, only one of them its own. Seconds into the file, or
        None if the song is among no stretch's candidates. The file is
        decoded once from its start (seeking can land seconds off in some
        formats), up to the last stretch's end."""
        rate = self.params.sample_rate
        around = np.asarray(around_seconds, float).reshape(-1)
        step = max(1.0, float(song_seconds) / 4)        # places between and about them, a quarter song apart
        around = np.arange(around.min() - 2 * step, around.max() + 2 * step + 1e-9, step)
        firsts = sorted({round(max(0.0, a - margin_seconds), 3) for a in around})
        length = float(song_seconds) + 2 * margin_seconds
        end = int((max(firsts) + length) * rate)
        pieces, at = [], 0
        for chunk in iter_decode(path, target_rate=rate):
            pieces.append(chunk[:max(0, end - at)])
            at += chunk.size
            if at >= end:
                break
        audio = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        best = None
        for first in firsts:
            stretch = audio[int(first * rate):int((first + length) * rate)]
            if stretch.size < rate:
                continue
            found = self.search(self.analysis(stretch).whole())                # all of it: no early decision
            for c in found.candidates:
                if c.song_id == int(song_id) and (best is None or c.hashes_matched_in_input > best[0]):
                    best = (c.hashes_matched_in_input, round(first - c.offset_seconds, 3))
        return None if best is None else best[1]

    # -- library ------------------------------------------------------------------
    def list_songs(self, **kwargs):
        return self.storage.list_songs(**kwargs)

    def get_song(self, song_id):
        return self.storage.song(song_id)

    def delete_songs(self, song_ids, *, with_copies=False):
        """Delete songs; returns the ids deleted (see :meth:`delete`)."""
        return self.delete(song_ids, with_copies=with_copies)["deleted"]

    def delete(self, song_ids, *, with_copies=False):
        """Delete songs and their fingerprints.

        An original with copies (not deleted too) takes them along if
        ``with_copies``; otherwise its first copy (lowest id) becomes the
        original in its place, fingerprinted from its file, which must
        still hold the bytes it was registered with (else
        :class:`~dejavu_cn.storage.HasCopiesError`, and nothing is deleted).

        Returns
        -------
        dict
            ``deleted`` (ids, sorted) and ``promoted`` ({deleted original:
            the copy now original in its place}).
        """
        storage = self.storage
        ids = sorted({int(i) for i in song_ids})
        promote = {}
        if not with_copies:
            for original, copies in sorted(storage.copies_of(ids).items()):
                left = [c for c in copies if c["song_id"] not in ids]
                if left:
                    promote[original] = self._promotable(original, left)
        prints = {original: fingerprint_path(path, self.params) for original, (_, path) in promote.items()}
        deleted = storage.delete_songs([i for i in ids if i not in promote], with_copies=with_copies)
        promoted = {}
        for original, (copy, path) in promote.items():
            fps, words, _ = prints[original]
            storage.promote_copy(original, copy, fps.hashes, fps.offsets, sketch=to_bytes(words))
            log.info("song %d deleted; its copy, song %d (%s), is the original now", original, copy, path)
            promoted[original] = copy
        return {"deleted": sorted(set(deleted) | set(promoted)), "promoted": promoted}

    def _promotable(self, original, copies):
        """(song id, path) of the copy of ``original`` to promote: the first,
        if its file is still there and unchanged; else HasCopiesError."""
        first = copies[0]
        path = first["source_path"]
        try:
            unchanged = file_sha1(path).hex() == first["file_sha1"]
            problem = "" if unchanged else "has changed since it was registered"
        except OSError as exc:
            problem = f"cannot be read ({exc.strerror or exc})"
        except AudioDecodeError as exc:
            problem = f"cannot be read ({exc.message})"
        if problem:
            listed = ", ".join(str(c["song_id"]) for c in copies)
            raise HasCopiesError({original: [c["song_id"] for c in copies]},
                                 f"song {original} has copies ({listed}); its first copy's file, {path}, {problem}, "
                                 "so it cannot become the original: delete them too with --with-copies")
        return int(first["song_id"]), path

    def stats(self):
        return self.storage.stats()

    def optimize(self):
        """Bring the database to its best shape for queries and its smallest
        size: every row the index's levels hold moved into the index, the
        hash counts folded, and the index rewritten in key order (SQLite:
        ``VACUUM``; MariaDB: ``ALTER TABLE ... FORCE``, online). A
        registration run does the first two where due; this does them all,
        at the cost of rewriting the whole index once.

        Returns
        -------
        dict
            ``bytes_before``, ``bytes_after``, ``seconds`` and ``rewritten``
            (False where the store keeps the index elsewhere: a Spider
            cluster's data nodes).
        """
        t0 = time.perf_counter()
        before = self.storage.stats()["bytes"]
        rewritten = self.storage.optimize()
        return {"bytes_before": before, "bytes_after": self.storage.stats()["bytes"],
                "seconds": round(time.perf_counter() - t0, 3), "rewritten": bool(rewritten)}

    # -- recognising -------------------------------------------------------------------
    def recognize(self, recognizer_class, *args, **kwargs):
        """``recognizer_class(self).recognize(*args, **kwargs)``."""
        return recognizer_class(self).recognize(*args, **kwargs)

    def decode(self, path, **kwargs):
        """A file as mono float32 at the analysis rate."""
        return decode_file(path, target_rate=self.params.sample_rate, **kwargs)

    def match_samples(self, samples, *, top=None, speed_search=None):
        """Recognise mono float32 samples at the analysis rate.

        A clip longer than ``recognition.early_seconds`` (by half) is first
        matched on its opening seconds and decided there under
        :meth:`~dejavu_cn.config.RecognitionParams.early_rule` (a clear
        match at an unambiguous offset needs no more audio, and looks up a
        fraction of the rows). Otherwise the whole clip decides, under
        :meth:`~dejavu_cn.config.RecognitionParams.rule`, reusing the rows
        already read. The rows read are bounded (:class:`QueryReader`):
        ``recognition.row_budget``, rarest hashes first; when that leaves
        the clip undecided, the rows of all its hashes are read for the
        ``candidate_songs`` best candidates only (two-stage matching: the
        database skips the other songs' rows). If no candidate then reaches
        the threshold on hashes, the first ``sketch_candidates`` are checked
        against their songs' sketches (:meth:`check_sketches`). A clip still
        undecided is tried as a copy played at another speed or pitch
        (:meth:`_search_changes`) if ``speed_search`` (default:
        ``recognition.speed_search``) and it lasts ``speed_min_seconds``.

        Returns
        -------
        dict
            ``match`` (best candidate if the decision names it, else None),
            ``candidates`` (fields: :mod:`dejavu_cn.decision`),
            ``query_seconds``, ``decided_seconds`` (audio the decision rests
            on), ``input_total_hashes``, ``rows_read`` (index rows the
            lookups returned), ``hashes_read`` (distinct hashes looked up: one
            index seek each) and ``timings`` (seconds). JSON-serialisable.
        """
        rec = self.config.recognition
        t0 = time.perf_counter()
        analysis = self.analysis(samples)
        reader = QueryReader(self)
        found, aligned, analysed = None, 0.0, time.perf_counter() - t0
        if rec.early_seconds > 0 and analysis.duration_seconds > 1.5 * rec.early_seconds:
            t1 = time.perf_counter()
            head = analysis.head(rec.early_seconds)
            analysed += time.perf_counter() - t1
            reader.read(head, rec.row_budget)
            found = self.search(head, top=top, lookup=reader.lookup, songs_searched=reader.songs_searched(),
                                rule=rec.early_rule(), sketch=analysis.sketch, sketch_search=False)
            if found.decision.match is None:
                aligned, found = found.timings["align"], None
        if found is None:
            t1 = time.perf_counter()
            query = analysis.whole()
            analysed += time.perf_counter() - t1
            reader.read(query, rec.row_budget)
            deeper = reader.pending > 0 and rec.candidate_songs > 0
            found = self.search(query, top=top, lookup=reader.lookup, sketch=analysis.sketch, sketch_search=not deeper,
                                songs_searched=reader.songs_searched())
            if deeper and found.decision.match is None:   # undecided on the rarest hashes: the rest, for the best songs
                t1 = time.perf_counter()
                best = best_songs(query, reader.lookup, max_rows=rec.max_hash_rows, top=rec.candidate_songs)
                aligned += found.timings["align"] + time.perf_counter() - t1
                reader.read_songs(query, best)
                found = self.search(query, top=top, lookup=reader.lookup, sketch=analysis.sketch,
                                    songs_searched=reader.songs_searched())
        changed, change_rows, change_seconds = None, 0, 0.0
        speed_search = rec.speed_search if speed_search is None else speed_search
        if speed_search and found.decision.match is None and analysis.duration_seconds >= rec.speed_min_seconds:
            t1 = time.perf_counter()
            changed, change_rows = self._search_changes(analysis, top)
            change_seconds = time.perf_counter() - t1
            found = changed[0] if changed else found
        result = found.as_dict()
        if changed:
            for candidate in result["candidates"]:         # the match is one of them
                candidate.update(changed[1])
        elif result["match"] is not None and result["match"]["decided_by"] == "hashes":
            self._fit_tempo(found, reader.lookup, result["match"])
        result["query_seconds"] = round(analysis.duration_seconds, 3)
        timings = result["timings"]
        timings["align"] = round(timings["align"] + aligned, 6)
        timings["query"] = round(reader.seconds, 6)
        if speed_search:
            timings["speed_search"] = round(change_seconds, 6)
        timings["total"] = round(time.perf_counter() - t0, 6)
        timings["fingerprint"] = round(analysed, 6)
        result["rows_read"] = reader.rows + change_rows
        result["hashes_read"] = reader.hashes
        return result

    def _search_changes(self, analysis, top):
        """The clip as a copy played at another speed or pitch.

        First every hypothesis of ``recognition.change_grid()`` at once: the
        peaks of the clip's first ``speed_seconds`` (``analysis``'s, a
        :class:`~dejavu_cn.matching.QueryAnalysis`) are mapped back under
        each (:mod:`dejavu_cn.changes`), keeping the landmarks whose bins a
        hypothesis half a step off still maps right; the rarest of each
        hypothesis's hashes (``speed_row_budget`` rows each) are read in one
        lookup and aligned once, each (song, hypothesis) apart. The
        ``speed_candidates`` best hypotheses are then searched on the whole
        clip with every landmark, every song's chance counted once per
        hypothesis tried, until one reaches ``speed_threshold``; it is
        refined to a quarter step and told apart as a speed change or a
        pitch shift. Returns ((Search, the change's fields), rows read) if
        that decides, else (None, rows)."""
        rec = self.config.recognition
        params = analysis.params
        grid = rec.change_grid()
        peaks = analysis.peaks()                            # the query's own: the hypotheses map them
        seconds = analysis.duration_seconds
        head_seconds = min(rec.speed_seconds, seconds)
        head = peaks.select(peaks.frames < int(round(head_seconds / params.frame_seconds())))
        scan_params = replace(params, fan_value=rec.change_scan_fan(self.params.fan_value, params.fan_value))
        parts = [mapped_query(head, t, f, scan_params, head_seconds, max_bin=rec.change_max_bin()) for t, f in grid]
        scan = Query(np.concatenate([q.hashes for q in parts]), np.concatenate([q.times for q in parts]), 1,
                     head_seconds)
        reader = QueryReader(self).read_each(parts, rec.speed_row_budget)
        rows = reader.rows
        found, _ = align(scan, reader.lookup, max_rows=rec.max_hash_rows, top=4 * rec.speed_candidates,
                         groups=np.repeat(np.arange(len(grid)), [len(q) for q in parts]), group_count=len(grid))
        likely = list(dict.fromkeys(c.song_id % len(grid) for c in found))[:rec.speed_candidates]
        tries = len(grid) + 4                               # the grid, then the refinement's four
        rule = Rule(rec.speed_threshold)

        def attempt(time_factor, freq_factor):              # the whole clip under one hypothesis
            nonlocal rows
            query = mapped_query(peaks, time_factor, freq_factor, params, seconds)
            if len(query) == 0:
                return None
            reader = QueryReader(self)
            reader.read(query, rec.row_budget)
            rows += reader.rows
            found = self.search(query, top=top, lookup=reader.lookup, songs_searched=reader.songs_searched(),
                                rule=rule, hypotheses=tries)
            strength = (found.candidates[0].confidence, found.candidates[0].aligned_frames) if found.candidates \
                else (-1.0, 0)
            return (strength, found, time_factor, freq_factor)

        best = None
        for h in likely:
            tried = attempt(*grid[h])
            if tried and (best is None or tried[0] > best[0]):
                best = tried
            if best and best[1].decision.match is not None:
                break
        if best is None or best[1].decision.match is None:
            return None, rows
        for fraction in (0.5, 0.25):                        # a hypothesis half a step off loses the high bins
            centre = best
            for sign in (-1, 1):
                freq_factor = centre[3] * (1 + rec.speed_step) ** (sign * fraction)
                tried = attempt(1 / freq_factor if centre[2] != 1.0 else 1.0, freq_factor)
                if tried and tried[1].decision.match is not None and tried[0] > best[0]:
                    best = tried
        other = attempt(1.0 if best[2] != 1.0 else 1 / best[3], best[3])     # a speed change or a pitch shift?
        if other and other[1].decision.match is not None and other[0] > best[0]:
            best = other
        return (best[1], describe_change(best[2], best[3])), rows

    def _fit_tempo(self, found, lookup, match):
        """A match whose votes drift off one offset (a copy at another
        tempo, or a speed change too small to move its hashes, found by the
        index): ``match`` (its dict) gets the offset where the clip starts
        and ``tempo_factor`` (:func:`~dejavu_cn.matching.fit_time`), if the
        fitted rate differs from 1 by ``TEMPO_MIN_CHANGE`` or more and by
        four times its standard error, drifts ``TEMPO_MIN_DRIFT`` frames or
        more over the clip (a second of votes on whole frames does not tell
        a percent), and the line holds ``TEMPO_MIN_VOTES`` votes and at
        least those of the candidate's window."""
        best = found.decision.match
        fit = fit_time(found.query, lookup, best.song_id, best.offset_subframes / found.query.shifts,
                       max_rows=self.config.recognition.max_hash_rows)
        if fit is None:
            return
        start, rate, on_line, error, span = fit
        change = abs(rate - 1.0)
        if change < max(TEMPO_MIN_CHANGE, 4 * error) or change * span < TEMPO_MIN_DRIFT or \
                on_line < max(TEMPO_MIN_VOTES, best.aligned_frames):
            return
        match.update(offset_frames=int(round(start)), offset_seconds=round(start * self.params.frame_seconds(), 3),
                     tempo_factor=round(rate, 4))

    def analysis(self, samples):
        """A :class:`~dejavu_cn.matching.QueryAnalysis` of mono samples at the
        analysis rate, at as many start points as their duration calls for
        (``recognition.shifts_for``)."""
        seconds = np.asarray(samples).size / self.params.sample_rate
        return QueryAnalysis(samples, self.query_params(), shifts=self.config.recognition.shifts_for(seconds))

    def analyze(self, samples):
        """A query's hashes (:class:`~dejavu_cn.matching.Query`); see :meth:`analysis`."""
        return self.analysis(samples).whole()

    def query_params(self):
        """Fingerprint parameters for queries (denser than for registering)."""
        return query_params(self.params, self.config.recognition)

    def lookup(self, hashes, *, budget=None):
        """Database rows for the distinct hashes among ``hashes`` ((n, 10)
        uint8), stop words left out, rarest first up to ``budget`` rows
        (default ``recognition.row_budget``; 0: no limit); see :class:`QueryReader`."""
        hashes = np.asarray(hashes, np.uint8).reshape(-1, HASH_BYTES)
        reader = QueryReader(self)
        reader.read(Query(hashes, np.zeros(len(hashes), np.int64), 1, 0.0),
                    self.config.recognition.row_budget if budget is None else budget)
        return reader.lookup

    def match_query(self, query: Query, *, top=None, lookup=None, sketch=None, songs_searched=None):
        """Match an analysed :class:`~dejavu_cn.matching.Query`: :meth:`search`'s
        result as a dict (the shape of :meth:`match_samples`'s)."""
        return self.search(query, top=top, lookup=lookup, sketch=sketch, songs_searched=songs_searched).as_dict()

    def search(self, query: Query, *, top=None, lookup=None, sketch=None, sketch_search=True, songs_searched=None,
               rule=None, hypotheses=1):
        """Align an analysed :class:`~dejavu_cn.matching.Query` with the
        library, score the candidates and decide (:func:`~dejavu_cn.decision.decide`
        under ``rule``, default ``recognition.rule()``).

        ``lookup`` (a :class:`~dejavu_cn.storage.Lookup` holding at least the
        rows of the query's hashes) skips the database: a streaming
        recogniser looks up only new hashes and keeps the rows. ``sketch``
        (a callable giving the query's band-energy sketch, called only if
        needed) lets the sketch corroborate a thin match on hashes
        (:meth:`corroborate`) and, with ``sketch_search``, check the
        candidates when the hashes leave the query undecided.
        ``songs_searched``: the songs the query could have hit when
        ``lookup`` holds only part of its rows (see
        :meth:`QueryReader.songs_searched`), for the chance model's count of
        songs tried. ``hypotheses``: how many versions of the query are
        tried in all (the speeds and pitches of :meth:`match_samples`'s
        speed search): each gives every song another chance, so the songs
        tried are counted that many times.

        Returns
        -------
        Search
        """
        rec = self.config.recognition
        rule = rule or rec.rule()
        top = top or rec.top
        t0 = time.perf_counter()
        if lookup is None:
            reader = QueryReader(self)
            reader.read(query, rec.row_budget)
            lookup, songs_searched = reader.lookup, reader.songs_searched()
        t1 = time.perf_counter()
        checked = rec.sketch_candidates if sketch is not None and sketch_search else 0
        candidates, stats = align(query, lookup, max_rows=rec.max_hash_rows, top=max(top, checked))
        songs = self.storage.songs_by_id([c.song_id for c in candidates])
        frame = self.params.frame_seconds()
        query_frames = query.duration_seconds / frame
        candidates = [c for c in candidates if c.song_id in songs]     # a song deleted meanwhile drops out
        spans = [songs[c.song_id]["duration_seconds"] / frame + query_frames for c in candidates]
        score_candidates(candidates, spans, max(stats["songs_hit"], songs_searched or 0) * hypotheses, rec.threshold,
                         min_aligned=rec.min_aligned_frames)
        ranked = rank([c.describe(songs[c.song_id], query, frame) for c in candidates])
        t2 = time.perf_counter()
        if sketch is not None:
            self.corroborate(ranked, sketch, rule.threshold)
        if checked and ranked and ranked[0].confidence < rec.threshold:
            self.check_sketches(ranked[:checked], sketch())
            rank(ranked)
        ranked = ranked[:top]
        t3 = time.perf_counter()
        return Search(query, ranked, decide(ranked, rule),
                      {"query": round(t1 - t0, 6), "align": round(t2 - t1, 6), "sketch": round(t3 - t2, 6)})

    def sketches(self, song_ids):
        """{song_id: band-energy sketch (uint32 words, see :mod:`dejavu_cn.sketch`)}
        of these songs (those that have one)."""
        return {i: from_bytes(b) for i, b in self.storage.sketches(song_ids).items()}

    def corroborate(self, ranked, sketch, threshold):
        """A match on few hashes needs the sketch's word: the first ranked
        candidate reaching ``threshold`` whose ``aligned_frames`` are fewer
        than ``recognition.corroborate_frames`` is an answer only if its
        song's band-energy sketch agrees with the query's (``sketch()``) at
        its offset (+- ``sketch.LOCAL_FRAMES``) with a z-score of at least
        ``recognition.corroborate_z``. One that does not gets p-value 1 and
        confidence 0 (its ``sketch_bit_error_rate`` says why) and the next
        is weighed, until one answers or none reaches the threshold.

        Thin alignments are where unrelated audio passes the chance model
        (a held chord, a loop on the same grid): measured on 1,059 clips of
        held-out music (`preset: large`, bench/NOTES.md), the sketch's z at
        the false positives' offsets was -0.7 to 2.4 for 7 of 8, and at
        least 3.0 for every right answer of fewer than 10 frames. Where
        either side has no sketch (a song stored without one, a query too
        short) the hashes answer alone. Changes ``ranked`` in place (and
        re-ranks it); returns the candidates set aside."""
        rec = self.config.recognition
        refused = []
        for c in ranked:
            if c.confidence < threshold:
                break
            if c.decided_by != "hashes" or c.aligned_frames >= rec.corroborate_frames:
                break                                  # a match of enough evidence answers
            agreement = agreement_at(self.sketches([c.song_id]).get(c.song_id), sketch(), c.offset_frames)
            if agreement is None or agreement[0] >= rec.corroborate_z:
                break                                  # nothing to corroborate with, or corroborated
            c.p_value, c.confidence, c.sketch_bit_error_rate = 1.0, 0.0, round(agreement[1], 4)
            refused.append(c)
        if refused:
            rank(ranked)
        return refused

    def check_sketches(self, candidates, query):
        """Check :class:`~dejavu_cn.decision.Candidate` objects against their
        songs' band-energy sketches (:func:`dejavu_cn.sketch.verify`), at
        their offset and over the whole song; ``query`` is the query's
        sketch. A candidate whose sketch agrees with the query's beyond
        chance gets that confidence, if higher, with ``decided_by`` set to
        ``"sketch"`` (and the sketch's offset where it differs by more than
        a frame). Changes them in place."""
        stored = self.sketches([c.song_id for c in candidates])
        found = verify(query, [(c.song_id, c.offset_frames) for c in candidates], stored)
        frame = self.params.frame_seconds()
        for c in candidates:
            if c.song_id not in found:
                continue
            p, offset, error_rate = found[c.song_id]
            c.sketch_bit_error_rate = round(error_rate, 4)
            confidence = confidence_from_p(p)
            if confidence > c.confidence:
                c.confidence, c.p_value, c.decided_by = confidence, p, "sketch"
                if abs(offset - c.offset_frames) > 1:
                    c.offset_frames, c.offset_seconds = offset, round(offset * frame, 3)


@dataclass
class Search:
    """A query matched: its candidates (ranked, best first, at most ``top``),
    the decision on them, and the time each step took (s)."""

    query: Query
    candidates: list
    decision: Decision
    timings: dict

    def as_dict(self):
        """The result as :meth:`Dejavu.match_samples` gives it (JSON-serialisable)."""
        seconds = round(self.query.duration_seconds, 3)
        candidates = [c.as_dict() for c in self.candidates]
        match = self.decision.match
        return {
            "match": candidates[self.candidates.index(match)] if match is not None else None,
            "candidates": candidates,
            "query_seconds": seconds,
            "decided_seconds": seconds,
            "input_total_hashes": int(round(self.query.hashes_per_shift)),
            "timings": dict(self.timings),
        }


TEMPO_MIN_CHANGE = 0.01   # a fitted rate this far from 1 is reported (unchanged clips: 0.997-1.004, 5-95 %)...
TEMPO_MIN_DRIFT = 3.0     # ...if it moves the votes this many frames over the clip, on this many votes (noisy
TEMPO_MIN_VOTES = 16      # clips of 3-5 s had lines of 10-12 chance votes at 0.93 and 1.025)
READ_ROUNDS = 3         # slices a budgeted read takes at most (QueryReader._read_within)


class QueryReader:
    """Reads a query's rows from the index within a row budget.

    The store's hash counts and presence (:meth:`~dejavu_cn.storage.base.Storage.estimated_rows`)
    say how many rows each hash holds before it is read; hashes without
    rows cost nothing, stop words (``recognition.max_hash_rows``) are not
    read, and the rest are read in :func:`~dejavu_cn.matching.read_order`
    (the rarest of each second of the query first) until the budget. What
    was read is kept, so a query read in stages (its opening seconds, then
    the whole clip) reads no hash twice; :meth:`read_songs` then reads the
    hashes left out, for a few candidate songs only. A store without counts
    has every hash read.

    Attributes
    ----------
    lookup : Lookup
        The rows read so far.
    rows : int
    hashes : int
        Hashes looked up so far (each an index seek, whatever it holds).
    pending : int
        Hashes of the last :meth:`read` left unread for the budget.
    seconds : float
        Time spent reading.
    """

    def __init__(self, engine):
        self.engine = engine
        self.lookup = Lookup.empty()
        self.rows = 0
        self.hashes = 0
        self.pending = 0
        self.seconds = 0.0
        self._settled = np.zeros(0, np.uint64)      # keys read, or known to need no read
        self._expected = 0                          # rows of every readable hash seen, read or not...
        self._seen = np.zeros(0, np.uint64)         # ...and those hashes
        self._partial = False                       # some rows of a readable hash were left unread
        self._estimated = 0                         # estimated rows of the hashes read within a budget...
        self._found = 0                             # ...and the rows they held

    def _unsettled(self, query):
        """The query's distinct hashes not read yet: (keys, hashes, times, estimated rows or None)."""
        keys, first = np.unique(hash_keys(query.hashes), return_index=True)
        new = ~np.isin(keys, self._settled, assume_unique=True)
        keys, first = keys[new], first[new]
        store = self.engine.storage
        estimate = store.estimated_rows(query.hashes[first]) if hasattr(store, "estimated_rows") else None
        return keys, query.hashes[first], query.times[first], estimate

    def _order(self, times, estimate, shifts):
        """:func:`~dejavu_cn.matching.read_order` of hashes at ``times`` (sub-frames of ``shifts``)."""
        rec, params = self.engine.config.recognition, self.engine.params
        order, _ = read_order(times, estimate, max_rows=rec.max_hash_rows,
                              bucket_subframes=shifts * round(1.0 / params.frame_seconds()))
        return order

    def read(self, query, budget):
        """Read the rows of ``query``'s hashes not read yet, until ``budget``
        rows have been read in all (0: no limit)."""
        t0 = time.perf_counter()
        keys, hashes, times, estimate = self._unsettled(query)
        if estimate is None:
            self._fetch(hashes)
            settled, self.pending = keys, 0
        else:
            order = self._order(times, estimate, query.shifts)
            fresh = ~np.isin(keys[order], self._seen, assume_unique=True)
            self._expected += int(estimate[order][fresh].sum())
            self._seen = distinct(self._seen, keys[order])
            if budget:
                done = self._read_within(hashes, estimate, order, budget)
            else:
                self._fetch(hashes[order])
                done = order.size
            unread = np.zeros(keys.size, bool)
            unread[order[done:]] = True
            unread &= self._readable(estimate)                                # left for a bigger budget
            settled = keys[~unread]
            self.pending = int(unread.sum())
            self._partial |= self.pending > 0
        self._settled = distinct(self._settled, settled)
        self.seconds += time.perf_counter() - t0
        return self

    def _read_within(self, hashes, estimate, order, budget):
        """Read ``hashes[order]`` in order while the rows read stay within
        ``budget``; returns how many of ``order`` were read.

        The estimates are bucket counts: an upper bound that many distinct
        hashes share once the index holds more hashes than there are
        buckets (peak triplets at hundreds of hours: a bucket of 70 rows,
        its hash of 1 or 2). So the first slice is taken on the estimates,
        and the next ones on the estimates scaled by the rows they turned
        out to hold so far (``READ_ROUNDS`` slices at most)."""
        done = 0
        for _ in range(READ_ROUNDS):
            room = budget - self.rows
            if room <= 0 or done >= order.size:
                break
            cost = np.cumsum(np.maximum(estimate[order[done:]] * self._scale(), 1.0))
            take = int(np.searchsorted(cost, room, side="right"))
            if take == 0:
                break
            chosen = order[done:done + take]
            before = self.rows
            self._fetch(hashes[chosen])
            self._estimated += int(estimate[chosen].sum())
            self._found += self.rows - before
            done += chosen.size
        return done

    def _scale(self):
        """Rows the hashes read held, over their estimates (1 before any)."""
        return self._found / self._estimated if self._estimated else 1.0

    def read_each(self, queries, budget):
        """Read, for each of ``queries`` (the versions of one clip a speed
        search tries), its rarest hashes (:func:`~dejavu_cn.matching.read_order`)
        within ``budget`` estimated rows (0: all), in one lookup: every version
        gets the same chance, whatever the others' hashes hold."""
        t0 = time.perf_counter()
        chosen = []
        for query in queries:
            _, hashes, times, estimate = self._unsettled(query)
            if estimate is None:
                chosen.append(hashes)
                continue
            order = self._order(times, estimate, query.shifts)
            cost = np.cumsum(np.maximum(estimate[order], 1))
            take = int(np.searchsorted(cost, budget, side="right")) if budget else order.size
            chosen.append(hashes[order[:take]])
        hashes = np.concatenate(chosen) if chosen else np.zeros((0, HASH_BYTES), np.uint8)
        keys, first = np.unique(hash_keys(hashes), return_index=True)
        self._fetch(hashes[first])
        self._settled = distinct(self._settled, keys)
        self.seconds += time.perf_counter() - t0
        return self

    def read_songs(self, query, song_ids):
        """Read the rows of ``query``'s hashes left unread, of these songs only
        (the database skips the others'): the evidence for and against the
        best candidates is then complete. The last stage of a query."""
        t0 = time.perf_counter()
        _, hashes, _, estimate = self._unsettled(query)
        if estimate is not None:
            hashes = hashes[self._readable(estimate)]
        if len(hashes) and len(song_ids):
            self._fetch(hashes, songs=sorted({int(i) for i in song_ids}))
        self.seconds += time.perf_counter() - t0
        return self

    def _readable(self, estimate):
        """Hashes worth reading: some rows, and not a stop word."""
        return (estimate > 0) & (estimate <= self.engine.config.recognition.max_hash_rows)

    def _fetch(self, hashes, songs=None):
        if len(hashes):
            found = self.engine.storage.lookup(hashes) if songs is None else \
                self.engine.storage.lookup(hashes, songs=songs)
            self.lookup = Lookup.concat([self.lookup, found])
            self.rows += int(found.keys.size)
            self.hashes += len(hashes)

    def songs_searched(self):
        """How many songs the query could have hit, when some of its rows
        were left unread (else None: the rows read tell). Every row is a
        chance for a song, so: the rows of every readable hash, at most the
        songs in the library. The chance model counts these songs as tried
        (a multiple-comparison correction over the songs searched, not over
        the songs the partial read happened to meet)."""
        if not self._partial:
            return None
        return min(self.engine.storage.song_count(), max(1, int(self._expected * self._scale())))
