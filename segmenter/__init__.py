"""Sentence segmentation at silences. Built on dejavu_cn; pure functions on
sample arrays (see :mod:`segmenter.silence`) plus WAV export. The names
below are imported (with numpy) on first use."""
from dejavu_cn._lazy import lazy_attributes

_SILENCE = ("SEGMENT_RATE", "SegmentParams", "Sentences", "detect_nonsilent", "find_sentences", "frame_levels",
            "intervals_to_seconds", "pad_intervals", "sentence_cores", "silence_threshold", "speech_band",
            "split_sentences")
__all__ = sorted(_SILENCE + ("export_sentences", "to_audiosegment"))

__getattr__ = lazy_attributes(__name__, {**{name: ".silence" for name in _SILENCE},
                                         "export_sentences": ".export", "to_audiosegment": ".export"})
