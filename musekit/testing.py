"""What tests use and generation never does: NumPy reference implementations that the
fast code is checked against (musekit's suite, its benchmarks, and a plugin's tests)."""
import numpy as np

from musekit.models.base import StepModel


def _float32_arrays(weights):
    return {k: np.ascontiguousarray(v, np.float32) for k, v in weights.items()}


def frame_nll(logits, labels):
    """NumPy reference of the piano-roll models' loss (musekit.models.frames): the mean over
    frames of the summed per-key Bernoulli NLL."""
    logits, labels = np.asarray(logits, np.float64), np.asarray(labels, np.float64)
    per_key = np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))
    return float(per_key.sum(-1).mean())


def wavenet_forward(weights, arch, inputs, last_only=False):
    """WaveNet's NumPy logits [B, T, C] of stored inputs [B, T] or [B, T, 2] (`arch`: a
    musekit.models.wavenet.Architecture), computed over the whole sequence like the Keras
    model (the reference of the step models); `last_only`: the
    logits [B, 1, C] of the last step alone (skip outputs and head at that step only)."""
    w = _float32_arrays(weights)
    inputs = np.asarray(inputs, np.int64)
    classes, label = (inputs[..., 0], inputs[..., 1]) if arch.labels else (inputs, None)

    def shifted(x, d):
        out = np.zeros_like(x)
        out[:, d:] = x[:, :x.shape[1] - d] if d < x.shape[1] else 0
        return out

    h = w['input/current'][classes] + shifted(w['input/previous'][classes], 1) + w['input/bias']
    skip = 0.0
    d_ch = arch.dilation_channels
    for n, d in enumerate(arch.dilations):
        p = 'layer_%d/' % n
        z = h @ w[p + 'current'] + shifted(h, d) @ w[p + 'previous'] + w[p + 'bias']
        if label is not None:
            z = z + w[p + 'label'][label]
        gated = np.tanh(z[..., :d_ch]) * (1.0 / (1.0 + np.exp(-z[..., d_ch:])))
        skip = skip + (gated[:, -1:] if last_only else gated) @ w[p + 'skip/kernel'] \
            + w[p + 'skip/bias']
        if p + 'residual/kernel' in w:
            h = h + gated @ w[p + 'residual/kernel'] + w[p + 'residual/bias']
    out = np.maximum(np.maximum(skip, 0) @ w['output_1/kernel'] + w['output_1/bias'], 0)
    return out @ w['output_2/kernel'] + w['output_2/bias']


class NaiveWaveNetStepModel(StepModel):
    """The reference WaveNet generator: each step recomputes every layer over the last receptive
    field of inputs (O(receptive field x layers) per sample; the skip outputs and the head
    at the newest step only). State: the inputs so far, at most a receptive field of them,
    [B, n] or [B, n, 2]."""

    def __init__(self, weights, arch):
        self.weights, self.arch = _float32_arrays(weights), arch

    def initial_state(self, batch_size):
        shape = (batch_size, 0, 2) if self.arch.labels else (batch_size, 0)
        return (np.zeros(shape, np.int64),)

    def step(self, inputs, state):
        history = np.concatenate([state[0], np.asarray(inputs, np.int64)[:, None]], 1)
        history = history[:, -self.arch.receptive_field:]
        return wavenet_forward(self.weights, self.arch, history, last_only=True)[:, -1], (history,)
