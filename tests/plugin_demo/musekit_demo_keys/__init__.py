"""Polyphonic key frames for musekit, as a third-party plugin would add them: an encoder
with multi-hot labels, an extractor, a model family with its own loss and per-key
sampling, a piece type and a config. Importing the package registers all of them."""
from musekit.config import CONFIGS
from musekit_demo_keys import frames, model, piece  # noqa: F401  (they register themselves)

CONFIGS.register('demo_keys', {
    'name': 'demo_keys',
    'description': 'Piano-roll frames (one per quarter note) of pitches [48, 84), '
                   'modelled by an LSTM with an independent Bernoulli per key.',
    'encoder': {'name': 'demo_key_frames', 'params': {'min_pitch': 48, 'max_pitch': 84}},
    'model': {'name': 'demo_key_lstm'},
    'hparams': {'batch_size': 8, 'units': 32, 'learning_rate': 0.01, 'clip_norm': 5.0,
                'crop_length': 16},
    'data': {'extractor': 'demo_key_frames', 'params': {'steps_per_quarter': 1}},
})
