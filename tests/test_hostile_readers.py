"""Hostile benchmark and audio files: sizes are checked before anything proportional to
them is built, non-finite or out-of-range values are refused with a short reason."""
import io
import pickle
import tracemalloc

import numpy as np
import pytest
import scipy.io

from musekit.data import audio_files
from musekit.data import piano_roll_files as prf
from musekit.data.sources import BadInput

JSB = 'tests/data/JSB_Chorales.mat'


def mat_bytes(variables, compress=True):
    b = io.BytesIO()
    scipy.io.savemat(b, variables, do_compression=compress)
    return b.getvalue()


def cells(*rolls):
    out = np.empty((1, len(rolls)), object)
    for i, roll in enumerate(rolls):
        out[0, i] = roll
    return out


def refused_peak(call, *args):
    """(message, peak traced bytes) of a call that must raise BenchmarkFileError."""
    tracemalloc.start()
    try:
        with pytest.raises(prf.BenchmarkFileError) as raised:
            call(*args)
        return str(raised.value), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_declared_frames_equal_what_scipy_reads_on_the_real_file():
    content = open(JSB, 'rb').read()
    data = scipy.io.loadmat(JSB)
    frames = sum(len(r) for k in ('traindata', 'validdata', 'testdata') for r in data[k].ravel())
    assert prf.declared_frames(content) == frames == 23134


@pytest.mark.parametrize('compress', [True, False])
def test_declared_frames_skip_other_variables_and_count_every_cell(compress):
    content = mat_bytes({'traindata': cells(np.ones((5, 88)), np.ones((0, 88)),
                                            np.ones((17, 88), np.uint8)),
                         'other': np.zeros((40, 3)), 'validdata': cells(np.ones((2, 88)))},
                        compress)
    assert prf.declared_frames(content) == 24
    assert sum(len(p) for pieces in prf.read_mat(content).values() for p in pieces) == 24


def test_a_small_mat_declaring_three_million_frames_is_refused_in_bounded_memory():
    bomb = mat_bytes({'traindata': cells(np.zeros((3_000_000, 88), np.uint8))})
    assert len(bomb) < 300_000
    message, peak = refused_peak(prf.read, bomb, False)
    assert message == ('3000000 frames in all, more than the limit 2000000 '
                       '(MUSEKIT_MAX_PIANO_ROLL_FRAMES)')
    assert peak < 8 << 20       # inflating it whole would take 264 MB (2.1 GB as doubles)


def test_data_inflating_past_what_the_frame_limit_needs_is_refused(monkeypatch):
    monkeypatch.setenv('MUSEKIT_MAX_PIANO_ROLL_FRAMES', '100')
    junk = mat_bytes({'junk': np.zeros((100_000, 88))})         # no cell array at all
    message, peak = refused_peak(prf.read_mat, junk)
    assert message.startswith('its data inflate past 1.1 MiB')
    assert peak < 4 << 20


@pytest.mark.parametrize('value, shown', [(np.nan, 'nan'), (-1, '-1.0'), (0.5, '0.5'),
                                          (1e300, '1e+300')])
def test_a_roll_value_other_than_0_and_1_is_refused(value, shown):
    roll = np.zeros((4, 88))
    roll[2, 5] = value
    with pytest.raises(prf.BenchmarkFileError) as raised:
        prf.read_mat(mat_bytes({'traindata': cells(np.ones((3, 88)), roll)}))
    assert str(raised.value) == ('traindata{2} has %s at frame 3, key 6; a piano roll holds '
                                 'only 0 and 1' % shown)


def test_a_pickle_repeating_one_piece_by_reference_is_refused_before_building_frames():
    piece = [[60, 64]] * 3000
    content = pickle.dumps({'train': [piece] * 1000})       # 3 M frames in 8 KB
    assert len(content) < 10_000
    message, peak = refused_peak(prf.read, content, True)
    assert message.startswith('3000000 frames in all')
    assert peak < 2 << 20


def test_a_frame_of_millions_of_references_is_refused():
    content = pickle.dumps({'train': [[[60] * 1_000_000]]})
    with pytest.raises(prf.BenchmarkFileError, match='a frame of 1000000 pitches'):
        prf.read(content, True)


def deeply_nested_pickle(depth):
    # protocol 2 by hand: `depth` empty lists, each appended into the one below it
    body = b']' * depth + b'a' * (depth - 1)
    return (b'\x80\x02}(X\x05\x00\x00\x00train]]]' + body + b'aaau.')


@pytest.mark.parametrize('pitch, shown', [
    (float('nan'), 'nan'), (float('inf'), 'inf'), (-float('inf'), '-inf'), (60.5, '60.5'),
    (128, '128'), (True, 'True'), ('x' * 1_000_000, "'xxxxxxxxxxxx...xxxxxxxxxxxxx'"),
    (b'x' * 1_000_000, "b'xxxxxxxxxxx...xxxxxxxxxxxxx'")])
def test_a_pitch_that_is_not_a_midi_pitch_is_one_short_line(pitch, shown):
    with pytest.raises(prf.BenchmarkFileError) as raised:
        prf.read(pickle.dumps({'train': [[[60], [pitch]]]}), True)
    assert str(raised.value) == 'train piece 0 has %s, not a MIDI pitch' % shown


def test_a_pitch_of_five_thousand_digits_is_one_short_line():
    with pytest.raises(prf.BenchmarkFileError) as raised:    # repr() of it raises ValueError
        prf.read(pickle.dumps({'train': [[[-10**5000]]]}), True)
    assert str(raised.value) == 'train piece 0 has an int of 16610 bits, not a MIDI pitch'


def test_a_pitch_nested_two_hundred_thousand_lists_deep_is_one_short_line():
    with pytest.raises(prf.BenchmarkFileError) as raised:
        prf.read(deeply_nested_pickle(200_000), True)
    assert str(raised.value) == 'train piece 0 has [[[...]]], not a MIDI pitch'


def test_whole_float_pitches_still_read():
    [(part, index, ns)] = prf.read(pickle.dumps({'train': [[[60.0, 64], [64]]]}), True)
    assert sorted((n.pitch, n.start_time, n.end_time) for n in ns.notes) == [
        (60, 0.0, 0.5), (64, 0.0, 1.0)]


# --- audio --------------------------------------------------------------------------------

@pytest.mark.parametrize('rate, target, ratio', [
    (44100, 8000, (80, 441)), (22050, 16000, (320, 441)), (48000, 16000, (1, 3)),
    (8000, 8000, (1, 1)), (9_999_991, 8000, (1, 1250)), (44056, 8000, (643, 3541))])
def test_resampling_ratios_are_exact_or_within_a_hundredth_of_a_percent(rate, target, ratio):
    up, down = audio_files.resample_ratio(rate, target)
    assert (up, down) == ratio
    assert max(up, down) < audio_files.MAX_RATIO_TERM
    assert abs(up * rate / (down * target) - 1) <= 1e-4


@pytest.mark.parametrize('rate, target', [(1, 8000), (2**31 - 1, 3)])
def test_a_rate_no_bounded_filter_can_resample_is_refused(rate, target):
    with pytest.raises(BadInput) as raised:
        audio_files.resample_ratio(rate, target)
    assert raised.value.reason == 'unsupported_sample_rate'


def test_a_wav_at_a_prime_rate_resamples_in_bounded_memory(tmp_path):
    import soundfile
    path = str(tmp_path / 'prime.wav')
    soundfile.write(path, np.sin(np.arange(10_000) / 7.0).astype(np.float32) * 0.5,
                    9_999_991, subtype='PCM_16')
    assert (tmp_path / 'prime.wav').stat().st_size < 21_000
    tracemalloc.start()
    try:
        samples = audio_files.read_audio(path, 8000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(samples) == 8          # 10,000 samples of 1 ms at 8 kHz
    assert peak < 64 << 20            # the exact ratio's filter alone would take 1.6 GB


@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf])
def test_a_float_wav_with_non_finite_samples_is_refused_not_silent(tmp_path, bad):
    import soundfile
    path = str(tmp_path / 'bad.wav')
    samples = np.zeros(800, np.float32)
    samples[123] = bad
    soundfile.write(path, samples, 8000, subtype='FLOAT')
    with pytest.raises(BadInput) as raised:
        audio_files.read_audio(path, 8000)
    assert raised.value.reason == 'non_finite_audio'
    assert 'sample 123 of 800' in raised.value.detail
