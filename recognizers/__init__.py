"""Recognisers: ways of getting audio to the engine. Built on dejavu_cn."""
from .base import BaseRecognizer
from .file import FileRecognizer

__all__ = ["BaseRecognizer", "FileRecognizer"]
