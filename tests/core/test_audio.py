import numpy as np
import pytest

from audiogen import convert, make_song, write_wav
from dejavu_cn.audio import (_ffmpeg_resampler, decode_file, ffmpeg_binary, ffmpeg_decode_command, from_audiosegment,
                             from_pcm, iter_decode, pcm_to_float, resample)
from dejavu_cn.errors import AudioDecodeError

RATE = 11025


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audio")
    x = make_song(21, 6.0)
    return folder, x, write_wav(folder / "src.wav", x, 44100, channels=2)


def _corr(a, b):
    n = min(a.size, b.size)
    a, b = a[:n] - a[:n].mean(), b[:n] - b[:n].mean()
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("name,args", [
    ("a.mp3", ["-c:a", "libmp3lame", "-b:a", "128k"]),
    ("a.ogg", ["-c:a", "libvorbis"]),                  # decoded as 32-bit float by ffmpeg/pydub
    ("a.flac", ["-sample_fmt", "s32", "-c:a", "flac"]),
    ("a48.wav", ["-ar", "48000"]),
    ("a24.wav", ["-c:a", "pcm_s24le"]),
    ("f32.wav", ["-c:a", "pcm_f32le", "-ar", "22050"]),
])
def test_formats_rates_and_widths_decode_to_the_same_signal(source, name, args):
    folder, x, wav = source
    reference = decode_file(wav, target_rate=RATE)
    got = decode_file(convert(wav, folder / name, *args), target_rate=RATE)
    assert got.dtype == np.float32
    assert abs(got.size - reference.size) < RATE * 0.1
    assert np.abs(got).max() <= 1.0001
    # same waveform (lossy codecs shift by their priming delay: search a small lag)
    best = max(_corr(reference[lag:], got) if lag >= 0 else _corr(reference, got[-lag:]) for lag in range(-1200, 1201, 3))
    assert best > 0.9


def test_wav_fast_path_matches_ffmpeg(source):
    _, _, wav = source
    fast = decode_file(wav, target_rate=RATE)
    slow = np.concatenate(list(iter_decode(wav, target_rate=RATE)))
    assert abs(fast.size - slow.size) <= 2
    assert _corr(fast, slow) > 0.99


def test_streaming_decode_chunks_add_up(source):
    _, _, wav = source
    chunks = list(iter_decode(wav, target_rate=RATE, chunk_seconds=1.0))
    assert len(chunks) >= 6
    assert abs(sum(c.size for c in chunks) - 6 * RATE) < 10


def test_corrupt_empty_and_missing_files_raise_with_ffmpeg_message(tmp_path):
    text = tmp_path / "notes.mp3"
    text.write_text("this is not audio\n" * 50)
    with pytest.raises(AudioDecodeError) as err:
        decode_file(text, target_rate=RATE)
    assert "notes.mp3" in str(err.value) and err.value.message
    empty = tmp_path / "empty.ogg"
    empty.write_bytes(b"")
    with pytest.raises(AudioDecodeError):
        decode_file(empty, target_rate=RATE)
    with pytest.raises(AudioDecodeError, match="no such file"):
        decode_file(tmp_path / "missing.wav", target_rate=RATE)
    with pytest.raises(AudioDecodeError, match="is a folder"):
        decode_file(tmp_path, target_rate=RATE)


def test_pcm_widths():
    assert pcm_to_float(np.array([-32768, 0, 16384], np.int16)).tolist() == [-1.0, 0.0, 0.5]
    assert pcm_to_float(np.array([0, 128, 255], np.uint8))[1] == 0.0
    three = (2 ** 22).to_bytes(3, "little", signed=True)      # 24-bit half scale
    assert abs(pcm_to_float(three, sample_width=3)[0] - 0.5) < 1e-6
    stereo = np.array([[0.5, -0.5], [1.0, 1.0]], np.float32)
    mono = from_pcm(stereo.reshape(-1), rate=RATE, channels=2, target_rate=RATE)
    np.testing.assert_allclose(mono, [0.0, 1.0])


def test_a_pydub_segment_converts_as_its_pcm():
    from pydub import AudioSegment
    stereo = (np.array([[16384, -16384], [32767, 32767]] * 8000, np.int16))          # 16-bit, 2 channels, 16 kHz
    segment = AudioSegment(stereo.tobytes(), frame_rate=16000, sample_width=2, channels=2)
    mono = from_audiosegment(segment, target_rate=16000)
    assert mono.dtype == np.float32 and mono.size == 16000
    np.testing.assert_allclose(mono[:2], [0.0, 32767 / 32768], atol=1e-6)
    assert from_audiosegment(segment, target_rate=8000).size == 8000


def test_resample_keeps_a_tone_frequency():
    t = np.arange(48000) / 48000.0
    y = resample(np.sin(2 * np.pi * 1000 * t).astype(np.float32), 48000, RATE)
    assert y.size == RATE
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spectrum) * RATE / y.size - 1000) < 2


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000, 88200])
@pytest.mark.parametrize("n", [1, 5, 4411, 300001])
def test_resample_is_scipys_polyphase_filter(rate, n):
    # integer ratios take a faster path of their own; every path must give resample_poly's samples
    from math import gcd

    from scipy.signal import resample_poly
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    g = gcd(rate, RATE)
    expected = resample_poly(x, RATE // g, rate // g)
    got = resample(x, rate, RATE)
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=2e-5)


def test_ffmpeg_resamples_with_soxr_only_where_it_has_it(tmp_path):
    without = tmp_path / "ffmpeg-without-soxr"
    without.write_text("#!/bin/sh\necho '  configuration: --prefix=/usr --enable-libmp3lame'\n")
    without.chmod(0o755)
    assert _ffmpeg_resampler(str(without)) == ()
    assert _ffmpeg_resampler(str(tmp_path / "missing")) == ()
    assert _ffmpeg_resampler(ffmpeg_binary()) == ("-resampler", "soxr")        # Debian's ffmpeg has libsoxr
    assert "soxr" in ffmpeg_decode_command("x.ogg", 11025)
