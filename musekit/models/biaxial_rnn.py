"""The biaxial RNN (Johnson, "Generating Polyphonic Music Using Tied Parallel Networks",
EvoMusArt 2017): an LSTM stack along time shared by every note, then an LSTM stack along the
notes, low to high, shared by every time step, deciding each note's (play, articulate).

Training runs both axes over whole batches (teacher forcing, no Python loop): the notes
are folded into the batch for the time axis ([B*N, T, 79] features of the biaxial encoder),
the steps for the note axis ([B*T, N, H + 2]: each note's time-axis output and the true
decision of the note just below). Generation (NumPy) ticks the time axis once for every
note, then walks the notes upwards, sampling each and feeding it to the next.

Hparams: ``time_layer_sizes`` (default [300, 300]), ``note_layer_sizes`` ([100, 50]),
``dropout_rate`` (0.5, after every layer, training only), ``crop_length`` (training
segments, 128 steps). Weights: ``time_{k}/...`` and ``note_{k}/...`` (LSTM cells, see
layers/lstm.py) and ``decide/kernel [U, 2]``, ``decide/bias [2]``.
"""
import dataclasses
import functools
import typing

import numpy as np

from musekit import params
from musekit.data.batching import RandomCrops
from musekit.encoders import biaxial
from musekit.errors import MusekitError
from musekit.layers import lstm
from musekit.layers.cells import CellStack
from musekit.models.base import (MAX_LAYERS, ModelFamily, StepModel, TrainingHparams,
                                 check_weights, register)
from musekit.models.objectives import Objective
from musekit.params import param


@dataclasses.dataclass
class Hparams(TrainingHparams):
    """The biaxial RNN's hparams (Johnson 2017's sizes)."""
    time_layer_sizes: list[int] = param([300, 300], 'time-axis LSTM widths', min=1,
                                        min_items=1, max_items=MAX_LAYERS, architecture=True)
    note_layer_sizes: list[int] = param([100, 50], 'note-axis LSTM widths', min=1,
                                        min_items=1, max_items=MAX_LAYERS, architecture=True)
    dropout_rate: float = param(0.5, "dropout on each layer's output while training",
                                min=0.0, below=1.0)
    crop_length: int = param(128, 'frames per training crop', min=1)


@typing.runtime_checkable
class NoteAxis(typing.Protocol):
    """What the family reads of its encoder beside the specs: the notes it covers."""
    min_pitch: int
    num_notes: int


def check_encoder(encoder):
    """Refuses, in one line, an encoder whose specs are not the biaxial layout (inputs:
    [2N + 1] ints, each note's played/articulated state and the beat; labels: [N, 2] 0/1)
    or that does not say which N notes it covers."""
    inputs, labels = encoder.input_spec, encoder.label_spec
    notes = labels.shape[0] if len(labels.shape) == 2 else None
    if not (isinstance(encoder, NoteAxis) and notes == encoder.num_notes
            and labels.shape == (notes, 2) and labels.depth == 2
            and inputs.dtype == 'int64' and inputs.shape == (2 * notes + 1,)):
        raise MusekitError('model biaxial_rnn reads per-note (played, articulated) labels '
                           '[N, 2] and inputs [2N + 1] of N notes from min_pitch; encoder %r '
                           'gives inputs %s and labels %s' % (
                               encoder.name, inputs.describe(), labels.describe()))


def _architecture(encoder, hparams):
    """(time layer sizes, note layer sizes, dropout rate), checked against the encoder."""
    check_encoder(encoder)
    h = params.bind(Hparams, hparams, 'hparam')
    return h.time_layer_sizes, h.note_layer_sizes, h.dropout_rate


class BiaxialBernoulli(Objective):
    """loss: nats per step, the Bernoulli NLL of every note's play decision plus, where it
    is played, of its articulation; frame_nll: the play decisions' part alone (the
    polyphonic benchmarks' figure); frame_accuracy: TP / (TP + FP + FN) of the notes played
    where P(play) > 0.5, each given the true notes below it."""

    def totals(self, outputs, labels, mask):
        import tensorflow as tf
        labels = tf.cast(labels, tf.float32)
        per_note = tf.nn.sigmoid_cross_entropy_with_logits(labels, outputs)   # [B, T, N, 2]
        play = tf.reduce_sum(per_note[..., 0], -1)
        articulate = tf.reduce_sum(per_note[..., 1] * labels[..., 0], -1)
        steps = tf.reduce_sum(mask)
        predicted = tf.cast(outputs[..., 0] > 0, tf.float32) * mask[..., None]
        on = labels[..., 0] * mask[..., None]
        true_positives = tf.reduce_sum(predicted * on)
        return {'loss': (tf.reduce_sum((play + articulate) * mask), steps),
                'frame_nll': (tf.reduce_sum(play * mask), steps),
                'frame_accuracy': (true_positives, tf.reduce_sum(predicted)
                                   + tf.reduce_sum(on) - true_positives)}


@functools.cache
def _model_class():
    """The Keras model, defined on first use so importing this module skips Keras."""
    import keras
    from keras import ops

    class BiaxialModel(keras.Model):
        """(stored inputs [B, T, 2N+1], labels [B, T, N, 2]) -> logits [B, T, N, 2]."""

        def __init__(self, num_notes, min_pitch, time_sizes, note_sizes, dropout, **kwargs):
            super().__init__(**kwargs)
            self.num_notes, self.min_pitch = num_notes, min_pitch
            classes = (min_pitch + np.arange(num_notes)) % 12
            self._class_onehot = np.eye(12, dtype=np.float32)[classes]            # [N, 12]
            self._vicinity = biaxial.vicinity_index(num_notes)                   # [N, 25]
            self._context = biaxial.context_index(classes)                       # [N, 12]
            self.time_layers = [lstm.keras_layer(u, 'time_%d' % k)
                                for k, u in enumerate(time_sizes)]
            self.note_layers = [lstm.keras_layer(u, 'note_%d' % k)
                                for k, u in enumerate(note_sizes)]
            self.dropout = keras.layers.Dropout(dropout) if dropout else None
            self.decide = keras.layers.Dense(2, name='decide')

        def features(self, steps):
            """[B, T, N, 79]: the encoder's `features`, in Keras ops."""
            n = self.num_notes
            steps = ops.cast(steps, 'float32')
            played, articulated, beat = steps[..., :n], steps[..., n:2 * n], steps[..., 2 * n]
            lead = ops.shape(played)[:-1]

            def spread(x, width):
                return ops.broadcast_to(x, (lead[0], lead[1], n, width))
            position = spread(ops.arange(n, dtype='float32')[:, None], 1)
            pitch_class = spread(ops.convert_to_tensor(self._class_onehot), 12)
            pad = [[0, 0], [0, 0], [biaxial.VICINITY, biaxial.VICINITY]]
            both = ops.stack([ops.pad(played, pad), ops.pad(articulated, pad)], -1)
            vicinity = ops.take(both, self._vicinity, axis=2)          # [B, T, N, 25, 2]
            vicinity = ops.reshape(vicinity, (lead[0], lead[1], n, 50))
            counts = ops.matmul(played, ops.convert_to_tensor(self._class_onehot))   # [B,T,12]
            context = ops.take(counts, self._context, axis=2)          # [B, T, N, 12]
            bits = ops.cast(ops.floor_divide(beat[..., None], 2.0 ** np.arange(4)), 'int32')
            beats = spread(ops.cast(bits % 2, 'float32')[:, :, None, :] * 2.0 - 1.0, 4)
            return ops.concatenate([position, pitch_class, vicinity, context, beats], -1)

        def _stack(self, layers, x, training):
            for layer in layers:
                x = layer(x, training=training)
                if self.dropout is not None:
                    x = self.dropout(x, training=training)
            return x

        def call(self, inputs, training=False):
            steps, labels = inputs
            x = self.features(steps)
            batch, time, n = ops.shape(x)[0], ops.shape(x)[1], self.num_notes
            h = ops.reshape(ops.transpose(x, (0, 2, 1, 3)), (batch * n, time, x.shape[-1]))
            h = self._stack(self.time_layers, h, training)
            h = ops.transpose(ops.reshape(h, (batch, n, time, h.shape[-1])), (0, 2, 1, 3))
            below = ops.cast(labels, 'float32')[:, :, :-1, :]
            below = ops.pad(below, [[0, 0], [0, 0], [1, 0], [0, 0]])   # nothing below note 0
            z = ops.concatenate([h, below], -1)
            z = ops.reshape(z, (batch * time, n, z.shape[-1]))
            z = self._stack(self.note_layers, z, training)
            return ops.reshape(self.decide(z), (batch, time, n, 2))

    return BiaxialModel


@register('biaxial_rnn')
class BiaxialRNN(ModelFamily):
    """Time-axis and note-axis LSTM stacks over the biaxial encoding; random crops."""

    Hparams = Hparams

    def build(self, encoder, hparams):
        time_sizes, note_sizes, dropout = _architecture(encoder, hparams)
        model = _model_class()(encoder.num_notes, encoder.min_pitch, time_sizes, note_sizes,
                               dropout, name='biaxial_rnn')
        n = encoder.num_notes
        model((np.zeros((1, 1, 2 * n + 1), np.int64), np.zeros((1, 1, n, 2), np.int64)))
        return model

    def training_outputs(self, model, inputs, labels, training):
        return model((inputs, labels), training=training)

    def objective(self, encoder, hparams):
        return BiaxialBernoulli()

    def batching(self, hparams):
        return RandomCrops(params.bind(Hparams, hparams, 'hparam').crop_length)

    def weight_variables(self, keras_model):
        out = {}
        for layer in keras_model.time_layers + keras_model.note_layers:
            out.update(lstm.keras_variables(layer))
        out.update({'decide/kernel': keras_model.decide.kernel,
                    'decide/bias': keras_model.decide.bias})
        return out

    def weight_shapes(self, encoder, hparams):
        time_sizes, note_sizes, _ = _architecture(encoder, hparams)
        shapes, width = {}, biaxial.NUM_FEATURES
        for k, units in enumerate(time_sizes):
            shapes.update(lstm.weight_shapes('time_%d' % k, width, units))
            width = units
        width += 2
        for k, units in enumerate(note_sizes):
            shapes.update(lstm.weight_shapes('note_%d' % k, width, units))
            width = units
        shapes.update({'decide/kernel': (width, 2), 'decide/bias': (2,)})
        return shapes

    def training_memory(self, encoder, hparams, batch_size, steps):
        """Both axes run over batch x steps x notes rows."""
        parameters, _ = super().training_memory(encoder, hparams, 1, 1)
        shapes = self.weight_shapes(encoder, hparams)
        per_row = sum(int(s[-1]) for s in shapes.values() if len(s) == 2)
        rows = batch_size * steps * encoder.num_notes
        return parameters, 16 * parameters + 12 * rows * (per_row + biaxial.NUM_FEATURES)

    def step_model(self, weights, encoder, hparams):
        check_weights(weights, self.weight_shapes(encoder, hparams), 'config')
        time_sizes, note_sizes, _ = _architecture(encoder, hparams)
        return BiaxialStepModel(weights, encoder, len(time_sizes), len(note_sizes))


def log_bernoulli(on, logits):
    """log P(on) for Bernoulli(sigmoid(logits)), computed stably."""
    signed = np.where(on, logits, -logits)
    return -(np.maximum(-signed, 0) + np.log1p(np.exp(-np.abs(signed))))


class BiaxialStepModel(StepModel):
    """NumPy generation: a CellStack along time, run for every note at once, and one along
    the notes. State: the time stack's, with a note axis ([B, N, U] arrays). `step` ticks
    the time axis; `step_and_sample` then decides the notes from low to high."""

    def __init__(self, weights, encoder, num_time_layers, num_note_layers):
        w = {k: np.asarray(v, np.float32) for k, v in weights.items()}
        self.encoder = encoder
        self.time_stack = CellStack(lstm.from_weights(w, 'time_%d' % k)
                                    for k in range(num_time_layers))
        self.note_stack = CellStack(lstm.from_weights(w, 'note_%d' % k)
                                    for k in range(num_note_layers))
        self.kernel, self.bias = w['decide/kernel'], w['decide/bias']

    def initial_state(self, batch_size):
        n = self.encoder.num_notes
        return tuple(s.reshape(batch_size, n, -1)
                     for s in self.time_stack.zero_state(batch_size * n))

    def step(self, inputs, state):
        """(time-axis outputs [B, N, H], new state) for stored inputs [B, 2N + 1]."""
        batch, n = len(inputs), self.encoder.num_notes
        h, state = self.time_stack(self.encoder.features(inputs).reshape(batch * n, -1),
                                   tuple(s.reshape(batch * n, -1) for s in state))
        return h.reshape(batch, n, -1), tuple(s.reshape(batch, n, -1) for s in state)

    def decide(self, time_outputs, temperature, rng, choose=None):
        """(labels [B, N, 2], log-probabilities [B], logits [B, N, 2]) walking the notes
        upwards; `choose(n, logits [B, 2])` may fix a note's decision (tests), else it is
        sampled at `temperature`."""
        batch, n = time_outputs.shape[:2]
        state = self.note_stack.zero_state(batch)
        below = np.zeros((batch, 2), np.float32)
        labels = np.zeros((batch, n, 2), np.int64)
        all_logits = np.zeros((batch, n, 2), np.float32)
        log_probs = np.zeros(batch)
        for note in range(n):
            z, state = self.note_stack(np.concatenate([time_outputs[:, note], below], 1),
                                       state)
            logits = z @ self.kernel + self.bias
            all_logits[:, note] = logits
            if choose is not None:
                decision = np.asarray(choose(note, logits), np.int64)
            else:
                scaled = logits.astype(np.float64) / temperature
                play = rng.random(batch) < 1.0 / (1.0 + np.exp(-scaled[:, 0]))
                articulate = play & (rng.random(batch) < 1.0 / (1.0 + np.exp(-scaled[:, 1])))
                decision = np.stack([play, articulate], 1).astype(np.int64)
                log_probs += log_bernoulli(play, scaled[:, 0])
                log_probs += np.where(play, log_bernoulli(articulate, scaled[:, 1]), 0.0)
            labels[:, note] = decision
            below = decision.astype(np.float32)
        return labels, log_probs, all_logits

    def step_and_sample(self, inputs, state, temperature, rng):
        time_outputs, state = self.step(inputs, state)
        labels, log_probs, _ = self.decide(time_outputs, temperature, rng)
        return labels, log_probs, state
