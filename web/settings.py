"""The web settings: the ``"web"`` section of ``config.json``.

Every key is optional::

    "web": {
      "token": "",                 # library changes (register, delete) need this; "" = read-only
      "token_env": "DEJAVU_CN_WEB_TOKEN",  # environment variable that, when set, wins over "token"
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
"""
import os
from dataclasses import dataclass
from pathlib import Path

from dejavu_cn.config import check_section
from dejavu_cn.errors import ConfigError

TOKEN_ENV_DEFAULT = "DEJAVU_CN_WEB_TOKEN"
DEFAULTS = {"token": "", "token_env": None, "max_upload_mb": 50.0, "max_upload_seconds": 1200.0,
            "show_source_path": False, "upload_dir": None, "keep_registered": True, "page_size": 20,
            "record_seconds": 3.0}   # the keys of "web" (types checked)


@dataclass(frozen=True)
class WebSettings:
    token: str = ""                  # empty: library changes refused (read-only)
    max_upload_bytes: int = 50 * 1024 * 1024   # 50 MB
    max_upload_seconds: float = 1200.0         # s of audio per uploaded file (20 min)
    show_source_path: bool = False             # anonymous answers show source_path
    upload_dir: str = ""                       # "": a private folder per process
    keep_registered: bool = True
    page_size: int = 20              # songs per page
    record_seconds: float = 3.0      # s

    @property
    def writable(self):
        return bool(self.token)

    @classmethod
    def from_config(cls, config):
        section = check_section("web", config.section("web"), DEFAULTS)
        env_name = section.get("token_env", TOKEN_ENV_DEFAULT)
        token = (os.environ.get(env_name) if env_name else None) or section.get("token") or ""
        max_mb = section.get("max_upload_mb", DEFAULTS["max_upload_mb"])
        page_size = section.get("page_size", DEFAULTS["page_size"])
        record_seconds = section.get("record_seconds", DEFAULTS["record_seconds"])
        max_seconds = float(section.get("max_upload_seconds", DEFAULTS["max_upload_seconds"]))
        if not 1.0 <= max_seconds <= 86400.0:
            raise ConfigError("'web.max_upload_seconds' must be in [1, 86400]")
        if max_mb <= 0:
            raise ConfigError("'web.max_upload_mb' must be > 0")
        if not 1 <= page_size <= 500:
            raise ConfigError("'web.page_size' must be in [1, 500]")
        if not 1.0 <= record_seconds <= 60.0:
            raise ConfigError("'web.record_seconds' must be in [1, 60]")
        upload_dir = section.get("upload_dir")
        if upload_dir:
            upload_dir = str((Path(config.base_dir) / os.path.expanduser(upload_dir)).resolve())
        return cls(token=token, max_upload_bytes=int(max_mb * 1024 * 1024), max_upload_seconds=max_seconds,
                   show_source_path=section.get("show_source_path", False), upload_dir=upload_dir or "",
                   keep_registered=section.get("keep_registered", True), page_size=page_size,
                   record_seconds=record_seconds)
