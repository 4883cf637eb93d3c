"""dejavu-cn: audio fingerprinting and recognition (core library).

The core: configuration, errors, decoding, the fingerprint and matching
algorithms, storage (SQLite and MySQL), the engine and the CLI. It never
imports Flask, PyAudio or matplotlib at module level.
"""
from .config import Config, FingerprintParams, RecognitionParams, load_config
from .engine import Dejavu
from .errors import (AudioDecodeError, ConfigError, DejavuError, DuplicateSongError, ParameterError,
                     ParameterMismatchError, RecognitionError, StorageError)

__version__ = "0.1.0"

__all__ = ["AudioDecodeError", "Config", "ConfigError", "Dejavu", "DejavuError", "DuplicateSongError",
           "FingerprintParams", "ParameterError", "ParameterMismatchError", "RecognitionError",
           "RecognitionParams", "StorageError", "load_config", "__version__"]
