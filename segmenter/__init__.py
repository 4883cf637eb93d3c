"""Sentence segmentation at silences. Built on dejavu_cn; pure functions on
sample arrays (see :mod:`segmenter.silence`) plus WAV export."""
from .export import export_sentences, to_audiosegment
from .silence import (SegmentParams, detect_nonsilent, frame_levels, intervals_to_seconds, pad_intervals,
                      sentence_cores, silence_threshold, speech_band, split_sentences)

__all__ = ["SegmentParams", "detect_nonsilent", "export_sentences", "frame_levels", "intervals_to_seconds",
           "pad_intervals", "sentence_cores", "silence_threshold", "speech_band", "split_sentences", "to_audiosegment"]
