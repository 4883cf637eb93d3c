"""The web settings: the ``"web"`` section of the configuration.

Every key is optional::

    "web": {
      "token": "",                 # library changes (register, delete) need this; "" = read-only
      "token_env": "DEJAVU_CN_WEB_TOKEN",  # environment variable that, when set, wins over "token" ("": none)
      "max_upload_mb": 50,         # MB per request; larger uploads get 413
      "max_upload_seconds": 1200,  # s of audio per uploaded file (20 min); longer ones get 413 (measured by
                                   # decoding at most this much, so a forged header cannot hide a longer file)
      "show_source_path": false,   # true: anonymous API answers show songs' source_path (the server's files);
                                   # otherwise only requests carrying the token see it
      "upload_dir": null,          # folder for kept uploads (upload_dir/songs) and, in a private folder per
                                   # process under upload_dir/tmp, uploads being handled; null = one private
                                   # folder per process under the system's temporary folder
      "keep_registered": true,     # keep uploaded songs under upload_dir/songs (their source_path)
      "page_size": 20,             # songs per library page
      "record_seconds": 3          # seconds the Record button captures (a Stop button ends it earlier)
    }

The section is parsed by the core's loader (:func:`dejavu_cn.config.build_section`);
:meth:`WebSettings.resolved` gives the values an application runs with
(the token from the environment, the upload folder as an absolute path).
"""
import dataclasses
import os
from dataclasses import dataclass

from dejavu_cn.errors import ConfigError

TOKEN_ENV_DEFAULT = "DEJAVU_CN_WEB_TOKEN"


@dataclass(frozen=True)
class WebSettings:
    token: str = ""                  # empty: library changes refused (read-only)
    token_env: str = TOKEN_ENV_DEFAULT
    max_upload_mb: float = 50.0      # MB per request
    max_upload_seconds: float = 1200.0   # s of audio per uploaded file (20 min)
    show_source_path: bool = False   # anonymous answers show source_path
    upload_dir: str = None           # None: a private folder per process
    keep_registered: bool = True
    page_size: int = 20              # songs per page
    record_seconds: float = 3.0      # s

    def validate(self):
        if not 1.0 <= self.max_upload_seconds <= 86400.0:
            raise ConfigError("'web.max_upload_seconds' must be in [1, 86400]")
        if self.max_upload_mb <= 0:
            raise ConfigError("'web.max_upload_mb' must be > 0")
        if not 1 <= self.page_size <= 500:
            raise ConfigError("'web.page_size' must be in [1, 500]")
        if not 1.0 <= self.record_seconds <= 60.0:
            raise ConfigError("'web.record_seconds' must be in [1, 60]")
        return self

    @property
    def max_upload_bytes(self):
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def writable(self):
        return bool(self.token)

    def resolved(self, config, environ=None):
        """The settings an application runs with: the token from the
        environment variable ``token_env`` when set, ``upload_dir``
        relative to the configuration file's folder."""
        environ = os.environ if environ is None else environ
        token = (environ.get(self.token_env) if self.token_env else None) or self.token
        upload_dir = config.resolve_path(self.upload_dir) if self.upload_dir else None
        return dataclasses.replace(self, token=token, upload_dir=upload_dir)
