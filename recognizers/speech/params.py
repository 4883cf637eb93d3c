"""The ``speech`` section of the configuration: :class:`SpeechParams`.

Imports nothing heavy, so the command line can list the section's keys
(``CONFIG_SECTIONS`` in :mod:`recognizers.speech_cli`) without numpy.
"""
from dataclasses import dataclass

from dejavu_cn.errors import ConfigError


@dataclass(frozen=True)
class SpeechParams:
    """Settings of the speech comparison (the ``speech`` section of the
    configuration): MFCC, DTW and the "same" and "similar" decisions. The
    fields are exactly the section's keys.

    With the defaults: 25 ms frames every 20 ms, 26 mel bands 100-4500 Hz,
    cepstral coefficients 1-13 (c0, the loudness, is dropped). Frame and hop
    lengths in samples follow from the rate (:meth:`frame_samples`).
    """

    frame_ms: float = 25.0            # ms per analysis window (276 samples at 11025 Hz)
    hop_ms: float = 20.0              # ms between frames (DTW cost grows with the square of frames)
    n_mels: int = 26                  # mel bands
    n_mfcc: int = 13                  # cepstral coefficients kept, after c0
    min_hz: float = 100.0             # Hz, lowest mel band edge
    max_hz: float = 4500.0            # Hz, highest mel band edge (before warping; capped at Nyquist)
    warps: tuple = (0.88, 0.94, 1.0, 1.06, 1.13, 1.2)   # filterbank warps tried on the recording (voices)
    preemphasis: float = 0.97         # first-order high-pass coefficient
    same_threshold: float = 0.3       # fingerprint confidence at or above which a sentence is "same": a chance
                                      # of 1e-3 against ONE original (the library's recognition.threshold
                                      # is set for many songs and a query's runner-up; it does not apply here)
    similar_threshold: float = 0.5    # similarity in [0, 1] at or above which a sentence is "similar"
    z_none: float = 2.5               # standard deviations the best path stands out by: similarity 0...
    z_full: float = 6.5               # ... and 1 (linear between; the threshold 0.5 sits at 4.5)
    fit_full: float = 0.8             # intersection over union of the path's span with an original
                                      # sentence at and above which the similarity is not reduced
    confirm_s: float = 0.25           # s; a fingerprint offset within this of where DTW puts the sentence
                                      # is judged against the +-0.25 s around it, not the whole original

    @classmethod
    def from_dict(cls, data):
        """Build from the ``speech`` section (a dict; ``None``: the defaults),
        as the configuration builds every section
        (:func:`dejavu_cn.config.build_section`).

        Raises
        ------
        ConfigError
            Unknown keys (naming the nearest valid one), values of the wrong
            type or out of range.
        """
        from dejavu_cn.config import build_section
        return build_section(cls, data, "speech")

    def same_rule(self):
        """The decision that a sentence is the original's own audio
        (:func:`dejavu_cn.decision.decide`): ``same_threshold``."""
        from dejavu_cn.decision import Rule
        return Rule(self.same_threshold)

    def validate(self):
        """Check the values; returns ``self``.

        Raises
        ------
        ConfigError
            Naming the key, e.g. ``speech.z_none: need z_none < z_full``.
        """
        numbers = all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in self.warps)
        checks = [
            ("hop_ms", 0 < self.hop_ms <= self.frame_ms, "need 0 < hop_ms <= frame_ms"),
            ("n_mfcc", self.n_mels >= 2 and 1 <= self.n_mfcc < self.n_mels,
             "need n_mels >= 2 and 1 <= n_mfcc < n_mels"),
            ("min_hz", 0 <= self.min_hz < self.max_hz, "need 0 <= min_hz < max_hz"),
            ("warps", numbers and len(self.warps) >= 1 and all(0.5 <= w <= 2.0 for w in self.warps),
             "warps must be one or more numbers in [0.5, 2]"),
            ("same_threshold", 0 <= self.same_threshold <= 1, "same_threshold must be in [0, 1]"),
            ("similar_threshold", 0 <= self.similar_threshold <= 1, "similar_threshold must be in [0, 1]"),
            ("z_none", self.z_none < self.z_full, "need z_none < z_full"),
            ("fit_full", 0 < self.fit_full <= 1, "fit_full must be in (0, 1]"),
            ("confirm_s", self.confirm_s >= 0, "confirm_s must be >= 0"),
        ]
        for key, ok, message in checks:
            if not ok:
                raise ConfigError(f"speech.{key}: {message}")
        return self

    def frame_samples(self, rate):
        """``(window, hop)`` in samples at ``rate`` Hz (``frame_ms`` and
        ``hop_ms``; 276 and 220 at 11025 Hz with the defaults)."""
        window = max(1, int(round(rate * self.frame_ms / 1000.0)))
        hop = max(1, int(round(rate * self.hop_ms / 1000.0)))
        return window, hop

