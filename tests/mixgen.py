"""A generated long recording with known answers: three of the test songs
(seeds 11, 13, 15, as ``songs_dir`` registers them) with unregistered audio
between, one joined by a crossfade."""
import numpy as np

from audiogen import make_song

RATE = 44100
FADE = 2.0           # s of the crossfade into the last song


def build_mix():
    """Unregistered audio, song11 from 2 s, unregistered, song13 from 0 s,
    unregistered crossfading (2 s) into song15 from 5 s, unregistered.
    Returns (samples, [(start, end, song name, song offset at start)])."""
    pieces = [(make_song(97, 5.0), None, 0.0), (make_song(11, 20.0)[2 * RATE:17 * RATE], "song11", 2.0),
              (make_song(98, 6.0), None, 0.0), (make_song(13, 20.0)[:14 * RATE], "song13", 0.0),
              (make_song(96, 7.0), None, 0.0), (make_song(15, 20.0)[5 * RATE:], "song15", 5.0),
              (make_song(95, 5.0), None, 0.0)]
    fade = int(FADE * RATE)
    out, truth = np.zeros(0, np.float32), []
    for x, name, offset in pieces:
        x = x.copy()
        start = out.size / RATE
        if name == "song15":                       # a crossfade: the truth boundary is its middle
            ramp = np.linspace(0, 1, fade, dtype=np.float32)
            x[:fade] *= ramp
            out[-fade:] = out[-fade:] * ramp[::-1] + x[:fade]
            x = x[fade:]
            start = (out.size - fade / 2) / RATE
            offset += FADE / 2
        out = np.concatenate([out, x])
        if name:
            truth.append((start, out.size / RATE, name, offset))
    return out, truth
