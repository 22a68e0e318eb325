"""WaveNet (van den Oord et al., "WaveNet: A Generative Model for Raw Audio", 2016): stacks
of causal convolutions of width 2 whose dilations double (1, 2, ..., 2^(L-1)), gated
tanh x sigmoid units, residual and skip connections, then ReLU -> 1x1 -> ReLU -> 1x1 ->
one logit per mu-law class; optionally conditioned on the clip's label (global
conditioning: a learnt bias per label in every gate).

Training runs the convolutions over random crops of receptive field + `crop_samples`
inputs; the loss counts only the last `crop_samples` outputs, which see a full receptive
field (evaluation likewise skips the first receptive field of every clip). Generation
(NumPy, no TensorFlow) uses the cached-queue algorithm of Paine et al., "Fast Wavenet
Generation Algorithm" (2016): every layer keeps the activations its dilation still needs,
so one new sample costs O(layers); musekit.testing.NaiveWaveNetStepModel recomputes the
whole receptive field per sample, the reference the fast one is tested against.

Hparams: ``stacks``, ``layers_per_stack``, ``residual_channels``, ``dilation_channels``,
``skip_channels``, ``crop_samples``, ``eval_batch_size``. Weights (C classes, R residual,
D dilation, K skip channels, M labels): ``input/current``, ``input/previous`` [C, R],
``input/bias`` [R]; for each layer k ``layer_k/current``, ``layer_k/previous`` [R, 2D]
(filter then gate), ``layer_k/bias`` [2D], ``layer_k/label`` [M, 2D] (conditioned models),
``layer_k/residual/kernel`` [D, R] and ``/bias`` [R] (not the last layer, whose residual
output nothing reads), ``layer_k/skip/kernel`` [D, K] and ``/bias`` [K]; ``output_1/kernel``
[K, K], ``output_2/kernel`` [K, C] and their biases.
"""
import dataclasses
import functools
import math
import typing

import numpy as np

from musekit import params
from musekit.data.batching import RandomCrops
from musekit.errors import MusekitError
from musekit.models.base import (MAX_LAYERS, ModelFamily, StepModel, TrainingHparams,
                                 check_weights, register)
from musekit.models.objectives import CategoricalCrossEntropy
from musekit.params import param


@dataclasses.dataclass
class Hparams(TrainingHparams):
    """WaveNet's hparams (the paper's names; sizes for 8 kHz audio on a CPU)."""
    stacks: int = param(2, 'stacks of dilated layers', min=1, max=MAX_LAYERS,
                        architecture=True)
    layers_per_stack: int = param(10, 'layers per stack, dilations 1, 2, ..., 2^(n-1)',
                                  min=1, max=16, architecture=True)
    residual_channels: int = param(32, 'channels of the residual stream', min=1,
                                   architecture=True)
    dilation_channels: int = param(32, 'channels of each gated dilated convolution', min=1,
                                   architecture=True)
    skip_channels: int = param(128, 'channels of the skip connections and output layers',
                               min=1, architecture=True)
    crop_samples: int = param(4096, 'samples predicted per training crop (the receptive '
                              'field is added before it)', min=1)
    eval_batch_size: int = param(1, 'clips per evaluation batch', min=1)


ARCHITECTURE = tuple(params.architecture_names(Hparams))


def layer_sizes(hparams):
    """{name: size} of the architecture hparams, checked."""
    h = params.bind(Hparams, hparams, 'hparam')
    return {name: getattr(h, name) for name in ARCHITECTURE}


def receptive_field(hparams):
    """Inputs that one output sees: 2 through the input convolution, plus each layer's
    dilation (1, 2, ..., 2^(layers_per_stack - 1) in every stack)."""
    sizes = layer_sizes(hparams)
    return 2 + sizes['stacks'] * (2 ** sizes['layers_per_stack'] - 1)


@typing.runtime_checkable
class Classes(typing.Protocol):
    """What the family reads of its encoder beside the specs: the classes of a sample and
    the labels it may be conditioned on."""
    num_classes: int
    condition: bool
    labels: list


def check_encoder(encoder):
    """Refuses, in one line, an encoder whose specs are not one class per sample (labels:
    a class in [0, num_classes); inputs: that class, or [class, label] when conditioned)."""
    inputs, labels = encoder.input_spec, encoder.label_spec
    if not (isinstance(encoder, Classes) and labels.dtype == 'int64' and labels.shape == ()
            and labels.depth == encoder.num_classes and inputs.dtype == 'int64'
            and inputs.shape == ((2,) if encoder.condition else ())):
        raise MusekitError('model wavenet reads one class per sample (and a label when '
                           'conditioned); encoder %r gives inputs %s and labels %s' % (
                               encoder.name, inputs.describe(), labels.describe()))


class Architecture:
    """The sizes the hparams give, checked, and what follows from them."""

    def __init__(self, encoder, hparams):
        check_encoder(encoder)
        for name, size in layer_sizes(hparams).items():
            setattr(self, name, size)
        self.classes = encoder.num_classes
        self.labels = len(encoder.labels or []) if encoder.condition else 0
        self.dilations = [2 ** k for _ in range(self.stacks)
                          for k in range(self.layers_per_stack)]
        self.receptive_field = receptive_field(hparams)

    @property
    def num_layers(self):
        return len(self.dilations)


def weight_shapes(arch):
    """{stable name: shape} of every weight (see the module doc)."""
    r, d, k, c = (arch.residual_channels, arch.dilation_channels, arch.skip_channels,
                  arch.classes)
    shapes = {'input/current': (c, r), 'input/previous': (c, r), 'input/bias': (r,)}
    for n in range(arch.num_layers):
        p = 'layer_%d/' % n
        shapes.update({p + 'current': (r, 2 * d), p + 'previous': (r, 2 * d),
                       p + 'bias': (2 * d,)})
        if arch.labels:
            shapes[p + 'label'] = (arch.labels, 2 * d)
        if n < arch.num_layers - 1:
            shapes.update({p + 'residual/kernel': (d, r), p + 'residual/bias': (r,)})
        shapes.update({p + 'skip/kernel': (d, k), p + 'skip/bias': (k,)})
    shapes.update({'output_1/kernel': (k, k), 'output_1/bias': (k,),
                   'output_2/kernel': (k, c), 'output_2/bias': (c,)})
    return shapes


class WarmedUpCrossEntropy(CategoricalCrossEntropy):
    """Cross-entropy of the outputs that see a full receptive field (positions from
    `warmup` on); also reported in bits per sample."""

    def __init__(self, warmup):
        self.warmup = warmup

    def totals(self, outputs, labels, mask):
        import tensorflow as tf
        seen = tf.cast(tf.range(tf.shape(mask)[1]) >= self.warmup, mask.dtype)
        return super().totals(outputs, labels, mask * seen[None, :])

    def derived(self, means):
        return dict(super().derived(means), bits_per_sample=means['loss'] / math.log(2))


class AudioCrops(RandomCrops):
    """Training: random crops (RandomCrops); evaluation: whole clips `eval_batch_size` at a
    time, since a 10 s clip is 80,000 steps."""

    def __init__(self, length, eval_batch_size):
        super().__init__(length)
        self.eval_batch_size = eval_batch_size

    def batch(self, ds, batch_size, padded_shapes, training, seed=0):
        return super().batch(ds, batch_size if training else self.eval_batch_size,
                             padded_shapes, training, seed)


@functools.cache
def _model_class():
    """The Keras model, defined on first use so importing this module skips Keras."""
    import keras
    from keras import ops

    def shifted(x, d):
        """x delayed by d steps along time, zeros first (causal padding)."""
        t = ops.shape(x)[1]
        return ops.pad(x, [[0, 0], [d, 0], [0, 0]])[:, :t]

    class WaveNetModel(keras.Model):
        """Stored inputs [B, T] (classes) or [B, T, 2] (classes, label) -> logits [B, T, C]."""

        def __init__(self, arch, **kwargs):
            super().__init__(**kwargs)
            self.arch = arch
            self.dilations = arch.dilations
            self.w = {}
            for name, shape in weight_shapes(arch).items():
                kind = name.rsplit('/', 1)[-1]
                init = 'zeros' if kind == 'bias' else 'glorot_uniform'
                self.w[name] = self.add_weight(shape=shape, initializer=init,
                                               name=name.replace('/', '_'))

        def call(self, inputs, training=False):
            w, arch = self.w, self.arch
            inputs = ops.cast(inputs, 'int32')
            if arch.labels:
                classes, label = inputs[..., 0], inputs[..., 1]
            else:
                classes, label = inputs, None
            h = (ops.take(w['input/current'], classes, axis=0)
                 + shifted(ops.take(w['input/previous'], classes, axis=0), 1)
                 + w['input/bias'])
            skip = 0.0
            d_ch = arch.dilation_channels
            for n, d in enumerate(self.dilations):
                p = 'layer_%d/' % n
                z = (ops.matmul(h, w[p + 'current']) + ops.matmul(shifted(h, d), w[p + 'previous'])
                     + w[p + 'bias'])
                if label is not None:
                    z = z + ops.take(w[p + 'label'], label, axis=0)
                gated = ops.tanh(z[..., :d_ch]) * ops.sigmoid(z[..., d_ch:])
                skip = skip + ops.matmul(gated, w[p + 'skip/kernel']) + w[p + 'skip/bias']
                if p + 'residual/kernel' in w:
                    h = h + ops.matmul(gated, w[p + 'residual/kernel']) + w[p + 'residual/bias']
            out = ops.relu(skip)
            out = ops.relu(ops.matmul(out, w['output_1/kernel']) + w['output_1/bias'])
            return ops.matmul(out, w['output_2/kernel']) + w['output_2/bias']

    return WaveNetModel


@register('wavenet')
class WaveNet(ModelFamily):
    """Dilated causal convolutions over mu-law classes; random crops; fast generation."""

    Hparams = Hparams
    mixed_precision = True      # checked on CPU only (tests/test_distribute.py)

    def build(self, encoder, hparams):
        arch = Architecture(encoder, hparams)
        model = _model_class()(arch, name='wavenet')
        shape = (1, 1, 2) if arch.labels else (1, 1)
        model(np.zeros(shape, np.int64))
        return model

    def objective(self, encoder, hparams):
        return WarmedUpCrossEntropy(Architecture(encoder, hparams).receptive_field - 1)

    def batching(self, hparams):
        h = params.bind(Hparams, hparams, 'hparam')
        return AudioCrops(receptive_field(hparams) - 1 + h.crop_samples, h.eval_batch_size)

    def weight_variables(self, keras_model):
        return dict(keras_model.w)

    def weight_shapes(self, encoder, hparams):
        return weight_shapes(Architecture(encoder, hparams))

    def training_memory(self, encoder, hparams, batch_size, steps):
        """Every layer keeps its input, both halves of the gate before and after their
        nonlinearities, and its skip output for each sample of the batch."""
        arch = Architecture(encoder, hparams)
        parameters, _ = super().training_memory(encoder, hparams, 1, 1)
        per_sample = (arch.num_layers * (2 * arch.residual_channels
                                         + 4 * arch.dilation_channels + arch.skip_channels)
                      + 2 * arch.skip_channels + arch.classes)
        return parameters, 16 * parameters + 12 * batch_size * steps * per_sample

    def step_model(self, weights, encoder, hparams):
        arch = Architecture(encoder, hparams)
        check_weights(weights, weight_shapes(arch), 'config')
        return WaveNetStepModel(weights, arch)


def _float32(weights):
    return {k: np.ascontiguousarray(v, np.float32) for k, v in weights.items()}


class WaveNetStepModel(StepModel):
    """Fast generation (Paine et al. 2016), one compiled kernel call per sample for the whole
    batch. State: (samples so far [B], previous input class [B] (-1 before the first),
    queues [B, sum of dilations, R]: layer k's inputs of the last dilation_k steps, a ring
    indexed by the step count). `step` updates the state arrays in place and returns them."""

    def __init__(self, weights, arch):
        w = _float32(weights)
        self.arch = arch
        n, r, d, k = (arch.num_layers, arch.residual_channels, arch.dilation_channels,
                      arch.skip_channels)
        self.dilations = np.array(arch.dilations, np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.dilations)[:-1]]).astype(np.int64)
        layer = ['layer_%d/' % i for i in range(n)]
        self.current = np.stack([w[p + 'current'] for p in layer])
        self.previous = np.stack([w[p + 'previous'] for p in layer])
        self.bias = np.stack([w[p + 'bias'] for p in layer])
        self.label = (np.stack([w[p + 'label'] for p in layer]) if arch.labels
                      else np.zeros((n, 1, 2 * d), np.float32))
        # residual and skip as one matrix per layer; the last layer's residual is unused
        self.res_skip = np.zeros((n, d, r + k), np.float32)
        self.res_skip_bias = np.zeros((n, r + k), np.float32)
        for i, p in enumerate(layer):
            if p + 'residual/kernel' in w:
                self.res_skip[i, :, :r] = w[p + 'residual/kernel']
                self.res_skip_bias[i, :r] = w[p + 'residual/bias']
            self.res_skip[i, :, r:] = w[p + 'skip/kernel']
            self.res_skip_bias[i, r:] = w[p + 'skip/bias']
        self.w = w
        from musekit.models._wavenet_kernel import wavenet_step   # loads numba
        self._kernel = wavenet_step

    def initial_state(self, batch_size):
        return (np.zeros(batch_size, np.int64), np.full(batch_size, -1, np.int64),
                np.zeros((batch_size, int(self.dilations.sum()), self.arch.residual_channels),
                         np.float32))

    def step(self, inputs, state):
        inputs = np.asarray(inputs, np.int64)
        if self.arch.labels:
            classes, labels = np.ascontiguousarray(inputs[:, 0]), np.ascontiguousarray(inputs[:, 1])
        else:
            classes, labels = inputs.reshape(-1), np.zeros(len(inputs), np.int64)
        count, previous, queues = state
        w = self.w
        logits = np.empty((len(classes), self.arch.classes), np.float32)
        self._kernel(classes, labels, count, previous, queues, w['input/current'],
                     w['input/previous'], w['input/bias'], self.current, self.previous,
                     self.bias, self.label, self.res_skip, self.res_skip_bias,
                     self.dilations, self.offsets, w['output_1/kernel'], w['output_1/bias'],
                     w['output_2/kernel'], w['output_2/bias'], logits)
        return logits, state
