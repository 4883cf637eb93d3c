"""Configuration: one object holds every setting, with its unit.

A configuration comes from ``config.json`` (or a dict with the same shape)::

    {
      "database_type": "sqlite",                # or "mysql"
      "database": {"path": "dejavu_cn.sqlite3"},
      "fingerprint": {...},                     # FingerprintParams fields
      "recognition": {...},                     # RecognitionParams fields
      "register": {...}                         # RegisterParams fields
    }

For MySQL/MariaDB, ``database`` holds ``host``, ``port``, ``user``,
``password`` and ``database`` as in worldveil/dejavu. The password may instead
come from the environment variable named by ``password_env`` (default
``DEJAVU_CN_DB_PASSWORD``), which wins when it is set. :meth:`Config.redacted`
gives a printable copy without the password.
"""
import copy
import dataclasses
import json
import os
from dataclasses import dataclass, field, fields

from .errors import ConfigError

PASSWORD_ENV_DEFAULT = "DEJAVU_CN_DB_PASSWORD"
CONFIG_ENV = "DEJAVU_CN_CONFIG"
DATABASE_TYPES = ("sqlite", "mysql")
TLS_MODES = ("auto", "preferred", "required", "disabled")   # database.tls (see storage.mysql.MySQLStorage)
DB_TIMEOUT_DEFAULT = 30.0     # s: database.timeout_seconds, how long a statement may wait for the server
                              # (MySQL) or for another process's write lock (SQLite) before a StorageError
CORE_KEYS = ("database_type", "database", "fingerprint", "recognition", "register")
# the keys of "database" (SQLite: path; MySQL/MariaDB: the rest), with their defaults (None: optional string)
DATABASE_KEYS = {"path": "", "host": "", "port": 3306, "user": "", "password": "", "password_env": None,
                 "database": "", "tls": "auto", "tls_ca": None, "timeout_seconds": DB_TIMEOUT_DEFAULT}


def check_tls(tls, tls_ca):
    """Refuse a ``database.tls`` mode that does not exist, or a CA file
    (which asks for a verified connection) with TLS disabled."""
    if tls not in TLS_MODES:
        raise ConfigError(f"'database.tls' must be one of {', '.join(TLS_MODES)}, not {tls!r}")
    if tls == "disabled" and tls_ca:
        raise ConfigError("'database.tls_ca' asks for a verified TLS connection, 'database.tls' disables TLS")


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
    fan_value: int = 5                # peaks each anchor is paired with
    max_hash_repeats: int = 8         # a hash a song holds at more than this many places is not stored (0: no limit)
    min_hash_time_delta: int = 1      # frames: 1 * 23.2 ms
    max_hash_time_delta: int = 63     # frames: 63 * 23.2 ms = 1.46 s (6 bits)
    max_hash_freq_delta: int = 127    # bins: 127 * 10.8 Hz = 1.37 kHz either way
    sketch_min_frequency: float = 150.0   # Hz; the band-energy sketch (see sketch.py) spans 33 log-spaced bands...
    sketch_max_frequency: float = 4000.0  # ...from here to here (inside the peaks' band)
    sketch_smoothing_frames: int = 16     # frames each band energy is summed over: 16 * 23.2 ms = 371 ms

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
            (self.fan_value >= 1, "fan_value must be >= 1"),
            (self.max_hash_repeats >= 0, "max_hash_repeats must be >= 0 (0: no limit)"),
            (1 <= self.min_hash_time_delta <= self.max_hash_time_delta <= 255,
             "need 1 <= min_hash_time_delta <= max_hash_time_delta <= 255"),
            (1 <= self.max_hash_freq_delta <= 1023, "max_hash_freq_delta must be in [1, 1023]"),
            (self.min_frequency <= self.sketch_min_frequency < self.sketch_max_frequency <= self.max_frequency,
             "need min_frequency <= sketch_min_frequency < sketch_max_frequency <= max_frequency"),
            (self.sketch_smoothing_frames >= 1, "sketch_smoothing_frames must be >= 1"),
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
    max_query_seconds: float = 60.0   # s; a file is recognised on its first 60 s (decoded no further: memory and
                                      # time stay bounded, 2.6 MB of samples; 20x the 3 s that decide a clear match)

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
        if self.sketch_candidates < 0:
            raise ConfigError("recognition.sketch_candidates must be >= 0 (0: never)")
        if self.row_budget < 0 or self.candidate_songs < 0:
            raise ConfigError("recognition.row_budget and candidate_songs must be >= 0 (0: no limit / never)")
        if not 1.0 <= self.max_query_seconds <= 3600.0:
            raise ConfigError("recognition.max_query_seconds must be in [1, 3600] seconds")
        if self.query_peak_factor < 1.0 or self.query_fan_value < 1:
            raise ConfigError("recognition.query_peak_factor must be >= 1 and query_fan_value >= 1")
        return self


@dataclass(frozen=True)
class RegisterParams:
    """Folder registration."""

    extensions: tuple = ("mp3", "ogg", "oga", "opus", "flac", "wav", "m4a", "aac", "wma", "aiff", "aif", "mp4", "webm", "mka")
    jobs: int = 0                     # worker processes; 0 = all cores

    def validate(self):
        if self.jobs < 0:
            raise ConfigError("register.jobs must be >= 0")
        return self


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
        value = tuple(value) if ok else value
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


def check_section(name, section, defaults):
    """A section (``name``: its key) checked against ``defaults`` ({key:
    default value}, whose types are the expected ones): unknown keys and
    wrong types are refused. Returns it with numbers converted to their
    types. The core's sections and those other packages own (see
    :func:`plugin_sections`) all go through here."""
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ConfigError(f"'{name}' must be an object")
    check_keys(name, section, defaults)
    return {key: check_value(f"{name}.{key}", value, defaults[key]) for key, value in section.items()}


def dataclass_defaults(cls):
    """{field name: default} of a dataclass of settings."""
    return {f.name: f.default for f in fields(cls)}


def _build(cls, section, name):
    values = check_section(name, section, dataclass_defaults(cls))
    if "extensions" in values:
        values["extensions"] = tuple(str(v).lower().lstrip(".") for v in values["extensions"])
    return cls(**values).validate()


@dataclass
class Config:
    """The whole configuration. Build it with :func:`load_config` or
    :meth:`Config.from_dict`."""

    database_type: str = "sqlite"
    database: dict = field(default_factory=lambda: {"path": "dejavu_cn.sqlite3"})
    fingerprint: FingerprintParams = field(default_factory=FingerprintParams)
    recognition: RecognitionParams = field(default_factory=RecognitionParams)
    register: RegisterParams = field(default_factory=RegisterParams)
    extra: dict = field(default_factory=dict)   # sections owned by other packages (web, speech, ...)
    base_dir: str = "."                         # relative database paths are resolved against this

    @classmethod
    def from_dict(cls, data, *, base_dir="."):
        if isinstance(data, Config):
            return data
        if not isinstance(data, dict):
            raise ConfigError("the configuration must be a JSON object")
        data = copy.deepcopy(data)
        sections = plugin_sections() if set(data) - set(CORE_KEYS) else {}
        check_keys("", data, set(CORE_KEYS) | set(sections))
        database_type = check_value("database_type", data.pop("database_type", "sqlite"), "").lower()
        if database_type not in DATABASE_TYPES:
            raise ConfigError(
                f"database_type must be one of {', '.join(DATABASE_TYPES)}, not {database_type!r}")
        database = data.pop("database", None)
        if database is None:
            database = {"path": "dejavu_cn.sqlite3"} if database_type == "sqlite" else {}
        database = check_section("database", database, DATABASE_KEYS)
        for name, defaults in sections.items():
            if name in data:
                check_section(name, data[name], defaults())
        config = cls(
            database_type=database_type,
            database=database,
            fingerprint=_build(FingerprintParams, data.pop("fingerprint", None), "fingerprint"),
            recognition=_build(RecognitionParams, data.pop("recognition", None), "recognition"),
            register=_build(RegisterParams, data.pop("register", None), "register"),
            extra=data,
            base_dir=str(base_dir),
        )
        config._check_database()
        return config

    def _check_database(self):
        try:
            timeout = float(self.database.get("timeout_seconds", DB_TIMEOUT_DEFAULT))
        except (TypeError, ValueError):
            raise ConfigError("'database.timeout_seconds' must be a number") from None
        if not 1.0 <= timeout <= 86400.0:
            raise ConfigError("'database.timeout_seconds' must be in [1, 86400] seconds")
        if self.database_type == "sqlite":
            if not self.database.get("path"):
                raise ConfigError("sqlite needs 'database.path' (a file, or ':memory:')")
        else:
            for key in ("host", "user", "database"):
                if not self.database.get(key):
                    raise ConfigError(f"mysql needs 'database.{key}'")
            check_tls(self.database.get("tls", "auto"), self.database.get("tls_ca"))

    def db_timeout_seconds(self):
        """``database.timeout_seconds`` (s)."""
        return float(self.database.get("timeout_seconds", DB_TIMEOUT_DEFAULT))

    def sqlite_path(self):
        path = self.database["path"]
        return path if path == ":memory:" else self._resolve(path)

    def _resolve(self, path):
        """A path from the configuration, relative to its file."""
        return os.path.realpath(os.path.join(self.base_dir, os.path.expanduser(path)))

    def mysql_settings(self):
        """Connection settings for PyMySQL, password resolved from the environment."""
        db = self.database
        env_name = db.get("password_env", PASSWORD_ENV_DEFAULT)
        password = os.environ.get(env_name, db.get("password", "")) if env_name else db.get("password", "")
        return {
            "host": db["host"],
            "port": int(db.get("port", 3306)),
            "user": db["user"],
            "password": password or "",
            "database": db["database"],
            "tls": db.get("tls", "auto"),
            "tls_ca": self._resolve(db["tls_ca"]) if db.get("tls_ca") else None,
            "timeout_seconds": self.db_timeout_seconds(),
        }

    def to_dict(self):
        out = {
            "database_type": self.database_type,
            "database": dict(self.database),
            "fingerprint": dataclasses.asdict(self.fingerprint),
            "recognition": dataclasses.asdict(self.recognition),
            "register": dataclasses.asdict(self.register),
        }
        out["register"]["extensions"] = list(self.register.extensions)
        out.update(copy.deepcopy(self.extra))
        return out

    def redacted(self):
        """A copy of :meth:`to_dict` safe to print or log: no password."""
        out = self.to_dict()
        if "password" in out["database"]:
            out["database"]["password"] = "***" if out["database"]["password"] else ""
        return out

    def section(self, name):
        """A section owned by another package (``web``, ``speech``...), or ``{}``."""
        value = self.extra.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"'{name}' must be an object")
        return value


def plugin_sections():
    """{section name: callable -> {key: default}} of the sections that
    packages built on the core (``web``, ``segment``, ``speech``...) own:
    each plugin module (see :mod:`dejavu_cn.plugins`) may declare them in a
    ``CONFIG_SECTIONS`` dict, so a typo there is caught when any command
    starts, not when the page is served."""
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


def load_config(path=None):
    """Read a JSON configuration file; ``None`` gives the built-in defaults
    (SQLite file ``dejavu_cn.sqlite3`` in the current directory)."""
    if path is None:
        return Config.from_dict({})
    from pathlib import Path          # here: the command line's start-up does not pay for it
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    return Config.from_dict(data, base_dir=path.resolve().parent)
