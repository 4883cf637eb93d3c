"""Recognisers: ways of getting audio to the engine. Built on dejavu_cn.

PyAudio is imported only when a microphone is opened, and the recognisers
(with numpy) on first use, so importing this package, or its command-line
modules for ``dejavu-cn --help``, is cheap.
"""
from dejavu_cn._lazy import lazy_attributes

__all__ = ["BaseRecognizer", "FileRecognizer", "MicrophoneRecognizer"]

__getattr__ = lazy_attributes(__name__, {"BaseRecognizer": ".base", "FileRecognizer": ".file",
                                         "MicrophoneRecognizer": ".microphone"})
