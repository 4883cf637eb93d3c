"""The speech recogniser: where does each sentence of a recording sit in an
original recording, and how close is it?

Both files are cut into sentences at their silences
(:func:`segmenter.find_sentences`: the sentences ``dejavu-cn segment`` lists).
Each sentence of the recording is then looked for in the original in two ways:

1. **Fingerprint alignment** (verdict ``"same"``): the original is
   fingerprinted once into an in-memory :class:`~dejavu_cn.storage.Lookup`
   (no database is opened), and the sentence is analysed and aligned exactly
   like a query of the engine (:func:`~dejavu_cn.matching.analyze_query`,
   :func:`~dejavu_cn.matching.align`, confidence from the chance p-value).
   A confidence at or above ``speech.same_threshold`` means the sentence is a
   copy of the original at that offset (re-encoded or noisy, but the same
   recording).
2. **MFCC + dynamic time warping** (verdict ``"similar"``): otherwise the
   sentence's MFCCs (cepstral mean and variance normalised per file, so two
   microphones compare) are aligned with subsequence DTW against the whole
   original, local slope between 1/2 and 2 (a re-speaking up to twice as fast
   or slow), once per filterbank warp in ``warps`` (vocal tract length
   normalisation, so a higher or lower voice compares). The best path is
   judged by how far it stands out from the best paths ending anywhere else
   in the original (``z``, in standard deviations: a sentence that is not in
   the original fits everywhere about equally badly) and by how well its
   span fits one sentence of the original (intersection over union). These
   give the similarity in [0, 1]; at or above ``similar_threshold`` the
   verdict is ``"similar"``, else ``"not_found"`` (which still names the
   nearest place DTW found, and its distance).

   A fingerprint alignment too weak on its own (a short sentence in noise)
   whose offset falls within ``confirm_s`` of where DTW independently puts the
   sentence is judged again against only that neighbourhood instead of the
   whole original (:func:`confirmed_p_value`); if that reaches the threshold
   the verdict is ``"same"`` (method ``"fingerprint+dtw"``).

The defaults were calibrated on ``bench/speech.py``: re-spoken sentences (six
espeak-ng voices and speeds) score 0.57-1.0, sentences not in the original
(espeak-ng, and Allison's prompts against other prompts of the same speaker)
0-0.45.

Results are plain JSON-serialisable dicts; times are in seconds.

Modules: :mod:`~recognizers.speech.params` (the ``speech`` configuration
section), :mod:`~recognizers.speech.features` (MFCC),
:mod:`~recognizers.speech.dtw` (subsequence DTW),
:mod:`~recognizers.speech.analysis` (each signal analysed once),
:mod:`~recognizers.speech.judge` (one sentence's verdict),
:mod:`~recognizers.speech.compare` (the whole comparison) and
:mod:`~recognizers.speech.plot` (the timeline picture). The names below are
imported (with numpy) on first use, so reading the configuration's keys
does not load the DSP.
"""
from dejavu_cn._lazy import lazy_attributes

_NAMES = {
    "SpeechParams": ".params",
    "mel_filterbank": ".features", "mfcc": ".features", "normalise": ".features",
    "subsequence_dtw": ".dtw",
    "METHOD_LABELS": ".judge", "VERDICTS": ".judge", "confirmed_p_value": ".judge",
    "compare_files": ".compare", "compare_samples": ".compare",
    "plot_timeline": ".plot",
}
__all__ = sorted(_NAMES)

__getattr__ = lazy_attributes(__name__, _NAMES)
