"""Configuration: one typed object, read by one loader, validated once.

Where a setting comes from, the later winning:

1. the built-in defaults (the fields of the section classes below);
2. the file: ``--config FILE``, else ``$DEJAVU_CN_CONFIG``, else
   ``./config.json`` if present (:func:`default_config_path`)::

    {
      "database_type": "sqlite",                # or "mysql"
      "database": {"path": "dejavu_cn.sqlite3"},  # DatabaseParams
      "fingerprint": {...},                     # FingerprintParams
      "recognition": {...},                     # RecognitionParams
      "register": {...},                        # RegisterParams
      "web": {...}, "speech": {...}, ...        # sections of the packages built on the core
    }

3. the environment: ``DEJAVU_CN_<SECTION>__<KEY>=value`` (a JSON value, or
   a bare string), e.g. ``DEJAVU_CN_RECOGNITION__THRESHOLD=0.5``; and the
   secrets, read when used: the database password from the variable
   ``database.password_env`` names (default ``DEJAVU_CN_DB_PASSWORD``), the
   web token from ``web.token_env`` (default ``DEJAVU_CN_WEB_TOKEN``);
4. the command line: ``dejavu-cn --set SECTION.KEY=VALUE`` (repeatable), and
   the options of each command (``--top``...), which apply to that command.

Each section is a frozen dataclass whose fields are its keys, with their
defaults and units; :func:`build_section` turns a dict into one (unknown
keys refused with the nearest valid name, types checked, the section's
``validate()`` run). The sections of the packages built on the core
(``web``, ``segment``, ``speech``, ``microphone``) are declared by them
(``CONFIG_SECTIONS``, see :mod:`dejavu_cn.plugins`) and built by the same
code, so a typo anywhere in the file fails every command at start-up,
naming the key. Components receive their section
(``config.recognition``, ``config.section("web")``) and never read the raw
dict. :meth:`Config.redacted` gives a printable copy without secrets.
"""
import copy
import dataclasses
import json
import math
import os
from dataclasses import dataclass, fields

from .decision import Rule
from .errors import ConfigError, ParameterError

PASSWORD_ENV_DEFAULT = "DEJAVU_CN_DB_PASSWORD"
CONFIG_ENV = "DEJAVU_CN_CONFIG"
DATABASE_TYPES = ("sqlite", "mysql")
TLS_MODES = ("auto", "preferred", "required", "disabled")   # database.tls (see storage.mysql.MySQLStorage)
DB_TIMEOUT_DEFAULT = 30.0     # s: database.timeout_seconds, how long a statement may wait for the server
                              # (MySQL) or for another process's write lock (SQLite) before a StorageError
RECENT_ROWS_DEFAULT = 1_000_000   # rows: database.recent_rows (about two hours of audio)
PENDING_SHARE_DEFAULT = 0.125     # database.pending_share
ENV_PREFIX = "DEJAVU_CN_"        # DEJAVU_CN_<SECTION>__<KEY>: a setting from the environment


def check_tls(tls, tls_ca):
    """Refuse a ``database.tls`` mode that does not exist, or a CA file
    (which asks for a verified connection) with TLS disabled."""
    if tls not in TLS_MODES:
        raise ConfigError(f"'database.tls' must be one of {', '.join(TLS_MODES)}, not {tls!r}")
    if tls == "disabled" and tls_ca:
        raise ConfigError("'database.tls_ca' asks for a verified TLS connection, 'database.tls' disables TLS")


@dataclass(frozen=True)
class DatabaseParams:
    """Where the library lives (the ``database`` section). SQLite uses
    ``path``; MySQL/MariaDB the others, as in worldveil/dejavu."""

    path: str = "dejavu_cn.sqlite3"   # SQLite file, relative to the configuration file's folder, or ":memory:"
    host: str = ""
    port: int = 3306
    hosts: tuple = ()                 # MySQL: the nodes of a cluster as "host:port" strings, tried in order (a
                                      # Galera cluster: the client moves on when one goes away); (): host, port
    user: str = ""
    password: str = ""
    password_env: str = PASSWORD_ENV_DEFAULT   # environment variable that, when set, wins over "password"
                                               # ("": none); read when connecting, never stored
    database: str = ""
    tls: str = "auto"                 # auto, preferred, required or disabled (see storage.mysql.MySQLStorage)
    tls_ca: str = None                # CA file: asks for a verified connection
    timeout_seconds: float = DB_TIMEOUT_DEFAULT
    recent_rows: int = RECENT_ROWS_DEFAULT      # fingerprints a registration writes to the small recent table
                                                # before they move on in key order (0: straight into the index;
                                                # see storage.base, "levels")...
    pending_share: float = PENDING_SHARE_DEFAULT  # ...and the share of the index the moved rows reach before
                                                  # they move into it (every page of it is rewritten then)

    def validate(self):
        if not 1.0 <= self.timeout_seconds <= 86400.0:
            raise ConfigError("'database.timeout_seconds' must be in [1, 86400] seconds")
        if self.recent_rows < 0 or not 0.0 < self.pending_share <= 1.0:
            raise ConfigError("'database.recent_rows' must be >= 0 (rows) and 'database.pending_share' in (0, 1]")
        check_tls(self.tls, self.tls_ca)
        self.host_list()
        return self

    def host_list(self):
        """[(host, port)]: ``hosts`` if given, else ``host`` and ``port``."""
        if not self.hosts:
            return [(self.host, self.port)] if self.host else []
        out = []
        for item in self.hosts:
            host, sep, port = item.rpartition(":") if isinstance(item, str) else ("", "", "")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ConfigError(f"'database.hosts' holds \"host:port\" strings, not {item!r}")
            out.append((host, int(port)))
        return out

    def check_for(self, database_type):
        """The keys ``database_type`` needs are there."""
        if database_type == "sqlite":
            if not self.path:
                raise ConfigError("sqlite needs 'database.path' (a file, or ':memory:')")
            return
        if not self.host_list():
            raise ConfigError("mysql needs 'database.host' (or 'database.hosts')")
        for key in ("user", "database"):
            if not getattr(self, key):
                raise ConfigError(f"mysql needs 'database.{key}'")

    def password_value(self, environ=None):
        """The password: the environment variable ``password_env`` if set, else ``password``."""
        environ = os.environ if environ is None else environ
        return (environ.get(self.password_env) if self.password_env else None) or self.password or ""


LANDMARKS = ("pair", "triplet")
SKETCH_LEVELS = ("shares", "linear")         # how the band-energy sketch compares bands (see sketch.sketch_words)
IMPLIED_FINGERPRINT = {"landmark": "pair",   # what a database that does not record a parameter was built with
                       "sketch_levels": "linear"}
FOLLOWED_FINGERPRINT = ("sketch_levels",)    # an existing database's value of these is used whatever the
                                             # configuration says (they change no hash: its songs' sketches
                                             # are in that format, and so must the queries' be)


@dataclass(frozen=True)
class FingerprintParams:
    """Analysis parameters. They are stored in the database at creation, and a
    database is refused if opened with different ones (hashes would not meet).

    With the defaults: one frame every 256 / 11025 Hz = 23.2 ms, 1024-sample
    windows (92.9 ms, 10.8 Hz per bin).
    """

    sample_rate: int = 11025          # Hz; every input is mixed to mono and resampled to this
    window_size: int = 1024           # samples per FFT window: 1024 / 11025 Hz = 92.9 ms
    hop_size: int = 256               # samples between frames: 256 / 11025 Hz = 23.2 ms
    min_frequency: float = 40.0       # Hz; peaks below are ignored (DC, rumble)
    max_frequency: float = 5000.0     # Hz; peaks above are ignored (lost by MP3 and microphones)
    peak_neighborhood_freq: int = 6   # bins either side a peak must dominate: 6 * 10.8 Hz = 65 Hz
    peak_neighborhood_time: int = 3   # frames either side a peak must dominate: 3 * 23.2 ms = 70 ms
    peak_dynamic_range: float = 40.0  # dB; peaks quieter than the loudest in-band bin of nearby frames minus this are dropped
    peak_floor: float = -110.0        # dB re full scale; below this is silence (only digital silence is that quiet)
    peak_level_seconds: float = 1.0   # s either side over which the level (mean in-band power) is taken
    peak_margin_weight: float = 2.0   # score = dB over the level + this * dB by which the peak beats its neighbourhood
    peaks_per_second: float = 40.0    # cap on peaks kept, best scored first, per second of audio (loudness-independent)
    landmark: str = "pair"            # "pair": anchor + one target per hash; "triplet": anchor + two targets
    fan_value: int = 5                # targets of each anchor: a pair with each, or a triplet with each two
    max_hash_repeats: int = 8         # a hash a song holds at more than this many places is not stored (0: no limit)
    min_hash_time_delta: int = 1      # frames: 1 * 23.2 ms
    max_hash_time_delta: int = 63     # frames: 63 * 23.2 ms = 1.46 s (6 bits)
    max_hash_freq_delta: int = 127    # bins: 127 * 10.8 Hz = 1.37 kHz either way
    sketch_min_frequency: float = 150.0   # Hz; the band-energy sketch (see sketch.py) spans 33 log-spaced bands...
    sketch_max_frequency: float = 4000.0  # ...from here to here (inside the peaks' band)
    sketch_smoothing_frames: int = 16     # frames each band energy is summed over: 16 * 23.2 ms = 371 ms
    sketch_levels: str = "shares"         # "shares": bands compared as shares of the frame's energy, so a fade
                                          # moves no bit; "linear": as energies (databases made before it)

    def frame_seconds(self):
        """Duration of one hop in seconds."""
        return self.hop_size / self.sample_rate

    def validate(self):
        checks = [
            (self.sample_rate >= 4000, "sample_rate must be at least 4000 Hz"),
            (self.window_size >= 64 and self.window_size & (self.window_size - 1) == 0,
             "window_size must be a power of two >= 64"),
            (0 < self.hop_size <= self.window_size, "hop_size must be in (0, window_size]"),
            (0 <= self.min_frequency < self.max_frequency <= self.sample_rate / 2,
             "need 0 <= min_frequency < max_frequency <= sample_rate / 2"),
            (self.peak_neighborhood_freq >= 1 and self.peak_neighborhood_time >= 1,
             "peak neighborhoods must be >= 1"),
            (self.peaks_per_second > 0, "peaks_per_second must be > 0"),
            (self.peak_level_seconds >= 0 and self.peak_margin_weight >= 0,
             "peak_level_seconds and peak_margin_weight must be >= 0"),
            (self.landmark in LANDMARKS, f"landmark must be one of {', '.join(LANDMARKS)}"),
            (self.fan_value >= (2 if self.landmark == "triplet" else 1), "fan_value must be >= 1 (2 for triplets)"),
            (self.landmark != "triplet" or self.window_size // 2 < 4096,
             "window_size must be below 8192 for triplets (a triplet's bins are cached in 12 bits)"),
            (self.max_hash_repeats >= 0, "max_hash_repeats must be >= 0 (0: no limit)"),
            (1 <= self.min_hash_time_delta <= self.max_hash_time_delta <= 255,
             "need 1 <= min_hash_time_delta <= max_hash_time_delta <= 255"),
            (1 <= self.max_hash_freq_delta <= 1023, "max_hash_freq_delta must be in [1, 1023]"),
            (self.min_frequency <= self.sketch_min_frequency < self.sketch_max_frequency <= self.max_frequency,
             "need min_frequency <= sketch_min_frequency < sketch_max_frequency <= max_frequency"),
            (self.sketch_smoothing_frames >= 1, "sketch_smoothing_frames must be >= 1"),
            (self.sketch_levels in SKETCH_LEVELS, f"sketch_levels must be one of {', '.join(SKETCH_LEVELS)}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"fingerprint parameters: {message}")
        return self


@dataclass(frozen=True)
class RecognitionParams:
    """How queries are analysed and decided."""

    query_shifts: int = 4             # analyses per query, hop/4 = 5.8 ms apart, so hashes survive an arbitrary cut...
    query_shift_seconds: float = 4.0  # ...but at most this many seconds of audio analysed in all (0: no limit):
                                      # a 1 s clip gets 4 start points, 2 s 2, from 3 s 1 (latency)
    threshold: float = 0.4            # decision: best candidate's confidence must reach this (0.4: chance 1e-4; see matching)
    min_aligned_frames: int = 0       # a match on hashes needs this many aligned anchor frames (0: the chance model
                                      # alone; triplet hits come in bursts it does not expect: the preset large sets 4)
    top: int = 5                      # candidates returned
    max_hash_rows: int = 2000         # query hashes found in more database rows than this are not read (stop words)
    row_budget: int = 20000           # rows a query reads, its rarest hashes first (0: no limit): what bounds a
                                      # query's cost as the library grows...
    candidate_songs: int = 256        # ...and when that leaves it undecided, the rows of every query hash are read
                                      # for this many best candidates (0: never)
    query_peak_factor: float = 1.0    # a query keeps this many times the peaks per second of a registered song...
    query_fan_value: int = 5          # ...and pairs each anchor with this many: the song's pairs survive extra (noise) peaks
    early_seconds: float = 3.0        # a longer clip is first matched on its opening seconds (0: never)...
    early_confidence: float = 0.6     # ...and decided there if the match reaches this confidence (chance 1e-6)
    sketch_candidates: int = 5        # when no candidate reaches the threshold on hashes, this many are checked
                                      # against their songs' band-energy sketches (0: never; see sketch.py)
    corroborate_frames: int = 12      # a match on hashes with fewer aligned anchor frames than this is an answer
    corroborate_z: float = 2.5        # only if the song's sketch agrees at its offset with at least this z-score
                                      # (0 frames: never asked; unrelated audio's thin alignments, measured:
                                      # z -0.7 to 2.4 but one, right ones 3.0 and more: Dejavu.corroborate)
    early_repeat_share: float = 0.7   # ...and its offset is unambiguous: no other window of the song reaches this
                                      # share of its votes (a loop)
    max_query_seconds: float = 60.0   # s; a file is recognised on its first 60 s (decoded no further: memory and
                                      # time stay bounded, 2.6 MB of samples; 20x the 3 s that decide a clear match)
    speed_search: bool = False        # a clip left undecided is tried again as if played at other speeds and
                                      # pitches (dejavu_cn.changes): a grid of hypotheses scanned at once...
    speed_min_seconds: float = 4.0    # ...if it lasts this long: a shorter clip's few peaks fit some hypothesis by
                                      # chance as well as the right one, and the undecided short noisy clips would
                                      # all pay for the search
    speed_min: float = 0.85           # speeds tried (pitch and tempo together; 1.25 = "nightcore")...
    speed_max: float = 1.30
    speed_step: float = 0.01          # ...1 % apart: a hash survives half a step off only below ~1 kHz
    pitch_semitones: float = 1.3      # pitch shifts (tempo kept) tried either way, in semitones, as far apart
    speed_seconds: float = 10.0       # s of the clip the hypotheses are scanned on, all at once...
    speed_scan_fan: int = 0           # ...each anchor with this many targets (0: the index's fan_value + 1, at
                                      # most the query's: triplets at the query's fan 8 cost 1.4x the time)...
    speed_row_budget: int = 1500      # ...each reading its rarest hashes up to this many rows, in one lookup...
    speed_candidates: int = 3         # ...then this many best hypotheses are searched on the whole clip...
    speed_threshold: float = 0.9      # ...where a match needs this confidence (chance 1e-9): the hypotheses are
                                      # fitted to the clip, which the chance model does not count (measured: every
                                      # changed copy of 5 s found reaches 1.0; unknown clips reached 0.75)

    def rule(self):
        """The decision on a whole query (see :func:`dejavu_cn.decision.decide`)."""
        return Rule(self.threshold)

    def early_rule(self):
        """The decision on a clip's opening seconds: a stronger match, at an
        offset no other place of the song rivals."""
        return Rule(self.early_confidence, max_repeat_share=self.early_repeat_share)

    def shifts_for(self, duration_seconds):
        """Start points at which a query of this duration is analysed: a long
        clip has hashes to spare, a short one needs every cut position."""
        if self.query_shift_seconds <= 0 or duration_seconds <= 0:
            return self.query_shifts
        return max(1, min(self.query_shifts, int(self.query_shift_seconds // duration_seconds)))

    def validate(self):
        if not 1 <= self.query_shifts <= 16:
            raise ConfigError("recognition.query_shifts must be in [1, 16]")
        if self.query_shift_seconds < 0:
            raise ConfigError("recognition.query_shift_seconds must be >= 0 (0: no limit)")
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError("recognition.threshold must be in [0, 1]")
        if self.top < 1:
            raise ConfigError("recognition.top must be >= 1")
        if self.early_seconds < 0 or not 0.0 <= self.early_confidence <= 1.0:
            raise ConfigError("recognition.early_seconds must be >= 0 and early_confidence in [0, 1]")
        if not 0.0 <= self.early_repeat_share <= 1.0:
            raise ConfigError("recognition.early_repeat_share must be in [0, 1]")
        if self.min_aligned_frames < 0:
            raise ConfigError("recognition.min_aligned_frames must be >= 0 (0: no minimum)")
        if self.sketch_candidates < 0:
            raise ConfigError("recognition.sketch_candidates must be >= 0 (0: never)")
        if self.corroborate_frames < 0 or not 0.0 <= self.corroborate_z <= 20.0:
            raise ConfigError("recognition.corroborate_frames must be >= 0 (0: never) and corroborate_z in [0, 20]")
        if self.row_budget < 0 or self.candidate_songs < 0:
            raise ConfigError("recognition.row_budget and candidate_songs must be >= 0 (0: no limit / never)")
        if not 1.0 <= self.max_query_seconds <= 3600.0:
            raise ConfigError("recognition.max_query_seconds must be in [1, 3600] seconds")
        if self.query_peak_factor < 1.0 or self.query_fan_value < 1:
            raise ConfigError("recognition.query_peak_factor must be >= 1 and query_fan_value >= 1")
        if not 0.5 <= self.speed_min <= 1.0 <= self.speed_max <= 2.0 or not 0.001 <= self.speed_step <= 0.1:
            raise ConfigError("recognition: need 0.5 <= speed_min <= 1 <= speed_max <= 2 and speed_step in "
                              "[0.001, 0.1]")
        if not 0.0 <= self.pitch_semitones <= 12.0 or self.speed_seconds < 1.0 or self.speed_min_seconds < 0 or \
                self.speed_row_budget < 0 or self.speed_candidates < 1 or not 0.0 <= self.speed_threshold <= 1.0 or \
                self.speed_scan_fan < 0:
            raise ConfigError("recognition.pitch_semitones must be in [0, 12], speed_seconds >= 1, "
                              "speed_min_seconds, speed_scan_fan, speed_row_budget >= 0, speed_candidates >= 1 and "
                              "speed_threshold in [0, 1]")
        return self

    def change_grid(self):
        """The hypotheses :attr:`speed_search` tries: (time factor, frequency
        factor) pairs that map the clip's peaks onto the original's, nearest
        to unchanged first. A copy played ``s`` times as fast is (s, 1/s); a
        pitch shift of ``k`` semitones (tempo kept) is (1, 2^(-k/12)). The
        unchanged (1, 1) is left out: the first search tried it."""
        step = math.log1p(self.speed_step)
        first, last = math.ceil(math.log(self.speed_min) / step), math.floor(math.log(self.speed_max) / step + 1e-9)
        grid = [(math.exp(k * step), math.exp(-k * step)) for k in range(first, last + 1) if k != 0]
        pitch_step = 12 * step / math.log(2)            # semitones as far apart as the speeds
        reach = math.floor(self.pitch_semitones / pitch_step)
        grid += [(1.0, 2 ** (-k * pitch_step / 12)) for k in range(-reach, reach + 1) if k != 0]
        return sorted(grid, key=lambda tf: abs(math.log(tf[0])) + abs(math.log(tf[1])))

    def change_scan_fan(self, index_fan, query_fan):
        """Targets per anchor in the speed search's scan: ``speed_scan_fan``,
        or (0) one more than the index paired (a target an extra peak of the
        copy took), at most the query's fan: the scan maps 56 versions of
        the clip, and peak triplets at the query's fan of 8 (28 an anchor)
        cost 1.4 times the time of a fan of 5 (10 an anchor) for the same
        top-1 (bench/NOTES.md)."""
        return self.speed_scan_fan or min(query_fan, index_fan + 1)

    def change_max_bin(self):
        """The highest FFT bin the speed search's scan keeps: a hypothesis
        half a step off moves bin ``b`` by ``b * speed_step / 2``, which
        rounds to the right bin while that stays within half a bin (bin 100,
        1.08 kHz, at 1 % steps); the higher landmarks count only when a
        hypothesis the scan found is searched on the whole clip."""
        return int(round(1.0 / self.speed_step))


@dataclass(frozen=True)
class RegisterParams:
    """Folder registration."""

    extensions: tuple = ("mp3", "ogg", "oga", "opus", "flac", "wav", "m4a", "aac", "wma", "aiff", "aif", "mp4", "webm", "mka")
    jobs: int = 0                     # worker processes; 0 = all cores
    commit_rows: int = 1_000_000      # fingerprints per registration transaction, at most...
    commit_seconds: float = 2.0       # ...and seconds a fingerprinted song waits for its commit (0: one commit
                                      # per song)
    link_copies: bool = False         # match each file against the library first: a copy of a registered song
                                      # is stored as a link to it (no fingerprints), and a file covering a
                                      # registered song becomes its original (dejavu_cn.register.judge_copy)
    copy_coverage: float = 0.9        # share of the file (copy) or of the registered song (original) that must
                                      # be covered at one offset
    copy_segment_seconds: float = 8.0     # a file is matched in segments this long: 8 s = 344 frames...
    copy_segments: int = 16               # ...at most this many, spread over its length (16 x 8 s tile 2:08;
                                          # a longer file is sampled: every 2nd, 4th... segment)
    copy_row_budget: int = 3000           # index rows each segment reads, its rarest hashes first (0: no limit)

    def validate(self):
        if self.jobs < 0:
            raise ConfigError("register.jobs must be >= 0")
        if self.commit_rows < 1 or self.commit_seconds < 0:
            raise ConfigError("register.commit_rows must be >= 1 and commit_seconds >= 0")
        if not 0.5 <= self.copy_coverage <= 1.0:
            raise ConfigError("register.copy_coverage must be in [0.5, 1]")
        if self.copy_segment_seconds < 1.0 or self.copy_segments < 1 or self.copy_row_budget < 0:
            raise ConfigError("register.copy_segment_seconds must be >= 1, copy_segments >= 1 and "
                              "copy_row_budget >= 0")
        return dataclasses.replace(self, extensions=tuple(str(v).lower().lstrip(".") for v in self.extensions))


def _expected(default):
    """How a value of the type of ``default`` is named in messages."""
    if isinstance(default, bool):
        return "true or false (without quotes)"
    if isinstance(default, int):
        return "a whole number"
    if isinstance(default, float):
        return "a number"
    if isinstance(default, (tuple, list)):
        return "a list"
    if isinstance(default, dict):
        return "an object"
    return "a string" if isinstance(default, str) else "a string or null"


def check_value(key, value, default):
    """``value`` as the type of ``default`` (the setting's default; None
    means an optional string). JSON numbers may be written as 3 or 3.0;
    nothing else is converted: the string ``"false"`` is not a boolean.

    Raises
    ------
    ConfigError
        Naming ``key`` and the expected type.
    """
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = number and float(value).is_integer()
        value = int(value) if ok else value
    elif isinstance(default, float):
        ok = number
        value = float(value) if ok else value
    elif isinstance(default, (tuple, list)):
        ok = isinstance(value, (list, tuple))
        if ok and default:           # the elements have the type of the default's
            value = tuple(check_value(f"{key}[{i}]", v, default[0]) for i, v in enumerate(value))
    elif isinstance(default, dict):
        ok = isinstance(value, dict)
    elif isinstance(default, str):
        ok = isinstance(value, str)
    else:
        ok = value is None or isinstance(value, str)
    if not ok:
        try:
            shown = json.dumps(value)
        except (TypeError, ValueError):      # a dict built in Python may hold anything
            shown = repr(value)
        raise ConfigError(f"'{key}' must be {_expected(default)}, not {shown}")
    return value


def check_keys(name, section, known):
    """Refuse a key of ``section`` (a dict; ``name`` is its place, "" for
    the top level) that is not in ``known``, suggesting the nearest."""
    prefix = f"{name}." if name else ""
    for key in section:
        if key not in known:
            import difflib                 # here: the command line's start-up does not pay for it
            close = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.6)
            hint = (f" \u2014 did you mean '{prefix}{close[0]}'?" if close
                    else f" (valid keys: {', '.join(sorted(known))})")
            raise ConfigError(f"unknown key '{prefix}{key}'{hint}")


def section_defaults(cls):
    """{key: default} of a section class (a dataclass of settings)."""
    return {f.name: f.default for f in fields(cls)}


def build_section(cls, data, name):
    """A section object from ``data`` (a dict of some of its keys, None for
    the defaults, or an instance, which is validated again): the one place
    where every section of the configuration is parsed.

    ``cls`` is a frozen dataclass whose fields are the section's keys (their
    defaults give the expected types) and whose ``validate()`` checks the
    values and returns the instance (normalised if need be).

    Raises
    ------
    ConfigError
        Naming the key: unknown (with the nearest valid one), of the wrong
        type, or out of range.
    """
    if isinstance(data, cls):
        return data.validate()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"'{name}' must be an object")
    defaults = section_defaults(cls)
    check_keys(name, data, defaults)
    section = cls(**{key: check_value(f"{name}.{key}", value, defaults[key]) for key, value in data.items()})
    try:
        return section.validate()
    except ParameterError as exc:     # a package's own check of its values: still a configuration error
        raise ConfigError(f"'{name}': {exc}") from None


# Named presets (Olaf's model: one configuration object, a few named starting
# points): a "preset" key applies these first, and the file's own values win.
# Each trade is measured on the benchmark (bench/tune.py, README).
PRESETS = {
    "default": {},
    "compact": {"fingerprint": {"fan_value": 4}},   # a fifth fewer index rows (2.87 M instead of 3.56 M for
                                                    # 6.18 h): a smaller index, registering faster; accuracy
                                                    # targets still met, a point or two lower in some cells
    "large": {"fingerprint": {"landmark": "triplet", "fan_value": 4, "peaks_per_second": 29.0},
              "recognition": {"query_fan_value": 8, "query_peak_factor": 2.0, "min_aligned_frames": 4}},
                                                    # triplets at the pairs' index size: a query reads ~25 times
                                                    # fewer rows, growing far less with the library; +2 % speed
                                                    # clips lose 11-16 points, some noisy cells 1-5 (README)
    "quick": {"recognition": {"query_shift_seconds": 3.0}},   # 1-2 s clips read a quarter fewer rows (about
                                                    # 3 ms less on MariaDB); short noisy clips lose (noise 0 dB
                                                    # at 2 s: 77 -> 69 %)
}


def apply_preset(data):
    """``data`` (a configuration dict) with its ``preset`` applied under its
    own values; the preset's name stays in ``preset``."""
    name = check_value("preset", data.get("preset", "default"), "")
    if name not in PRESETS:
        import difflib
        close = difflib.get_close_matches(name, sorted(PRESETS), n=1, cutoff=0.6)
        hint = f" \u2014 did you mean '{close[0]}'?" if close else f" (presets: {', '.join(sorted(PRESETS))})"
        raise ConfigError(f"unknown preset '{name}'{hint}")
    merged = {section: dict(values) for section, values in PRESETS[name].items()}
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key].update(value)
        else:
            merged[key] = value
    merged["preset"] = name
    return merged


CORE_SECTIONS = {"database": DatabaseParams, "fingerprint": FingerprintParams,
                 "recognition": RecognitionParams, "register": RegisterParams}
TOP_KEYS = ("database_type", "preset")


@dataclass(frozen=True)
class Config:
    """The whole configuration: one typed, validated, immutable object.
    Build it with :func:`load_config` or :meth:`Config.from_dict`.

    ``plugins`` holds the sections of the packages built on the core that
    the configuration sets (``web``, ``speech``...), already built;
    :meth:`section` gives any of them (the defaults where not set).
    """

    database_type: str = "sqlite"
    preset: str = "default"           # see PRESETS
    database: DatabaseParams = DatabaseParams()
    fingerprint: FingerprintParams = FingerprintParams()
    recognition: RecognitionParams = RecognitionParams()
    register: RegisterParams = RegisterParams()
    plugins: tuple = ()               # ((name, section object), ...) in file order
    base_dir: str = "."               # relative paths of the file are resolved against this

    @classmethod
    def from_dict(cls, data, *, base_dir="."):
        """A configuration from a dict shaped like ``config.json``, checked
        whole (see :func:`build_section`); a :class:`Config` is returned as is."""
        if isinstance(data, Config):
            return data
        if not isinstance(data, dict):
            raise ConfigError("the configuration must be a JSON object")
        data = apply_preset(data)
        extra = {key: value for key, value in data.items() if key not in TOP_KEYS and key not in CORE_SECTIONS}
        declared = plugin_sections() if extra else {}
        check_keys("", data, {*TOP_KEYS, *CORE_SECTIONS, *declared})
        database_type = check_value("database_type", data.get("database_type", "sqlite"), "").lower()
        if database_type not in DATABASE_TYPES:
            raise ConfigError(
                f"database_type must be one of {', '.join(DATABASE_TYPES)}, not {database_type!r}")
        core = {name: build_section(section_cls, data.get(name), name) for name, section_cls in CORE_SECTIONS.items()}
        core["database"].check_for(database_type)
        plugins = tuple((name, build_section(declared[name](), value, name)) for name, value in extra.items())
        return cls(database_type=database_type, preset=data["preset"], plugins=plugins, base_dir=str(base_dir), **core)

    def section(self, name, cls=None):
        """The section ``name`` of a package built on the core (``web``,
        ``speech``...): as configured, or its defaults (``cls``: the
        section's class, when the caller knows it)."""
        for key, value in self.plugins:
            if key == name:
                return value
        if cls is not None:
            return build_section(cls, None, name)
        declared = plugin_sections()
        if name not in declared:
            raise ConfigError(f"no configuration section '{name}' (is the package that owns it installed?)")
        return build_section(declared[name](), None, name)

    def replace(self, **sections):
        """A copy with some sections replaced, each given as an object or a
        dict of changed keys (``config.replace(recognition={"top": 3})``);
        validated like a file."""
        data = self.to_dict()
        for name, value in sections.items():
            if dataclasses.is_dataclass(value):
                value = dataclasses.asdict(value)
            data[name] = {**data.get(name, {}), **value} if isinstance(value, dict) else value
        return Config.from_dict(data, base_dir=self.base_dir)

    def resolve_path(self, path):
        """A path from the configuration, relative to its file's folder."""
        return os.path.realpath(os.path.join(self.base_dir, os.path.expanduser(path)))

    def db_timeout_seconds(self):
        """``database.timeout_seconds`` (s)."""
        return self.database.timeout_seconds

    def sqlite_path(self):
        path = self.database.path
        return path if path == ":memory:" else self.resolve_path(path)

    def mysql_settings(self):
        """Connection settings for PyMySQL, the password resolved from the environment."""
        db = self.database
        (host, port), *others = db.host_list()
        return {"host": host, "port": port, "hosts": others, "user": db.user, "password": db.password_value(),
                "database": db.database, "tls": db.tls,
                "tls_ca": self.resolve_path(db.tls_ca) if db.tls_ca else None,
                "timeout_seconds": db.timeout_seconds, "recent_rows": db.recent_rows,
                "pending_share": db.pending_share}

    def to_dict(self):
        """The configuration as a dict shaped like ``config.json`` (every key)."""
        out = {"database_type": self.database_type, "preset": self.preset}
        for name in CORE_SECTIONS:
            out[name] = dataclasses.asdict(getattr(self, name))
        out["register"]["extensions"] = list(self.register.extensions)
        for name, value in self.plugins:
            out[name] = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(value).items()}
        return out

    def redacted(self):
        """A copy of :meth:`to_dict` safe to print or log: no password or token."""
        out = self.to_dict()
        for section, key in (("database", "password"), ("web", "token")):
            if out.get(section, {}).get(key):
                out[section][key] = "***"
        return out


def plugin_sections():
    """{section name: callable -> section class} of the sections that
    packages built on the core (``web``, ``segment``, ``speech``,
    ``microphone``) own: each plugin module (see :mod:`dejavu_cn.plugins`)
    declares them in a ``CONFIG_SECTIONS`` dict (a callable, so the class's
    module is imported only when a configuration uses the section)."""
    from .plugins import plugin_modules
    sections = {}
    for module in plugin_modules():
        sections.update(getattr(module, "CONFIG_SECTIONS", {}))
    return sections


def default_config_path():
    """The configuration file used when none is named: ``$DEJAVU_CN_CONFIG``
    if set, else ``./config.json`` if present, else None (the defaults)."""
    path = os.environ.get(CONFIG_ENV)
    if path is None and os.path.isfile("config.json"):
        path = "config.json"
    return path


def _setting_value(text):
    """A value given as text (environment, ``--set``): JSON if it parses
    (numbers, true/false, lists), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _override(data, place, key, value):
    """Set ``data[place][key]`` (``place`` None: a top-level key)."""
    if place is None:
        data[key] = value
        return
    section = data.setdefault(place, {})
    if not isinstance(section, dict):
        raise ConfigError(f"'{place}' must be an object")
    section[key] = value


def environment_settings(environ=None):
    """[(section, key, value)] from ``DEJAVU_CN_<SECTION>__<KEY>`` variables."""
    environ = os.environ if environ is None else environ
    found = []
    for name in sorted(environ):
        if name.startswith(ENV_PREFIX) and "__" in name[len(ENV_PREFIX):]:
            place, key = name[len(ENV_PREFIX):].lower().split("__", 1)
            found.append((place, key, _setting_value(environ[name])))
    return found


def parse_setting(text):
    """``SECTION.KEY=VALUE`` (or ``KEY=VALUE`` for a top-level key such as
    ``database_type``) as (section or None, key, value)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ConfigError(f"a setting is written SECTION.KEY=VALUE, not {text!r}")
    place, dot, key = name.strip().rpartition(".")
    return (place if dot else None), key, _setting_value(value)


def load_config(source=None, *, settings=(), environ=None):
    """The configuration, the same way for every entry point (the command
    line, :class:`~dejavu_cn.Dejavu`, the web app): ``source`` (a JSON
    file's path, a dict shaped like one, or None for the defaults), then the
    environment's ``DEJAVU_CN_<SECTION>__<KEY>`` variables, then ``settings``
    (``"SECTION.KEY=VALUE"`` strings, as ``--set`` gives them), each
    winning over the one before; checked whole. A :class:`Config` is
    returned as it is (it was loaded already).

    Raises
    ------
    ConfigError
    """
    if isinstance(source, Config):
        return source
    data, base_dir = {}, "."
    if isinstance(source, dict):
        data = copy.deepcopy(source)
    elif not isinstance(source, (str, os.PathLike)) and source is not None:
        raise ConfigError(f"the configuration must be a JSON object or a file's path, not {type(source).__name__}")
    elif source is not None:
        from pathlib import Path          # here: the command line's start-up does not pay for it
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read configuration {path}: {exc.strerror}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the configuration must be a JSON object")
        base_dir = path.resolve().parent
    for place, key, value in environment_settings(environ) + [parse_setting(s) for s in settings]:
        _override(data, place, key, value)
    return Config.from_dict(data, base_dir=base_dir)
