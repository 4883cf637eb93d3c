"""What every recogniser shares."""


class BaseRecognizer:
    """A way of getting audio to recognise (a file, a microphone...).

    Subclasses implement :meth:`recognize`; they turn their input into mono
    samples at the engine's rate and call ``dejavu.match_samples``.
    """

    def __init__(self, dejavu):
        self.dejavu = dejavu

    def recognize(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError
