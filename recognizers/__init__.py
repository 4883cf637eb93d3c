"""Recognisers: ways of getting audio to the engine. Built on dejavu_cn.

PyAudio is imported only when a microphone is opened, so importing this
package works on a machine without it.
"""
from .base import BaseRecognizer
from .file import FileRecognizer
from .microphone import MicrophoneRecognizer

__all__ = ["BaseRecognizer", "FileRecognizer", "MicrophoneRecognizer"]
