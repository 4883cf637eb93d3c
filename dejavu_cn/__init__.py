"""dejavu-cn: audio fingerprinting and recognition (core library).

The core: configuration, errors, decoding, the fingerprint and matching
algorithms, storage (SQLite and MySQL), the engine and the CLI. It never
imports Flask, PyAudio or matplotlib at module level, and ``Dejavu`` (with
numpy and scipy) is imported on first use, so ``dejavu-cn --help`` starts fast.
"""
from ._lazy import lazy_attributes
from .config import Config, FingerprintParams, RecognitionParams, load_config
from .errors import (AudioDecodeError, ConfigError, DejavuError, DuplicateSongError, ParameterError,
                     ParameterMismatchError, RecognitionError, StorageError)

__version__ = "0.1.0"

__all__ = ["AudioDecodeError", "Config", "ConfigError", "Dejavu", "DejavuError", "DuplicateSongError",
           "FingerprintParams", "ParameterError", "ParameterMismatchError", "RecognitionError",
           "RecognitionParams", "StorageError", "load_config", "__version__"]

__getattr__ = lazy_attributes(__name__, {"Dejavu": ".engine"})
