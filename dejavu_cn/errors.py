"""The exceptions raised by dejavu-cn.

Every error the library raises on purpose derives from :class:`DejavuError`,
so a caller can catch one type. "No match" is not an error: recognisers return
a result whose ``match`` is ``None``.
"""


class DejavuError(Exception):
    """Root of every dejavu-cn error."""


class ConfigError(DejavuError):
    """The configuration file or dictionary is unusable."""


class ParameterError(DejavuError, ValueError):
    """A function was called with a value outside its domain."""


class AudioDecodeError(DejavuError):
    """A file could not be decoded as audio.

    Parameters
    ----------
    path : str
        The file that failed.
    message : str
        What went wrong, usually the last lines of ffmpeg's stderr.
    """

    def __init__(self, path, message):
        self.path = str(path)
        self.message = message.strip() or "unknown decoder error"
        super().__init__(f"cannot decode {self.path}: {self.message}")


class StorageError(DejavuError):
    """The database could not be opened, read or written."""


class ParameterMismatchError(StorageError):
    """The database was created with other fingerprint parameters."""


class DuplicateSongError(StorageError):
    """A file with the same content is already registered."""

    def __init__(self, song_id, message):
        self.song_id = song_id
        super().__init__(message)


class RecognitionError(DejavuError):
    """Recognition could not run (as opposed to: it found no match)."""


class EmptyLibraryError(RecognitionError):
    """Recognition was asked of a database with no song in it."""

    def __init__(self):
        super().__init__("the library is empty \u2014 register music first: dejavu-cn register FOLDER")
