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


def check_encoder(encoder, events_list):
    """Asserts the encoder contract on each sequence of `events_list` (valid events, ideally
    real ones): the stepper's encoding (`Encoder.encode`, the definition) and the encoder's
    own `encode` (a speed override) give exactly the same inputs and labels; both have the
    declared dtypes and shapes, n-1 steps for n events, and integer values inside their
    declared depth; a primed stepper, and a copy of it, go on as one fed every event; and
    decoding the labels, then encoding the result, gives the labels back (except the
    encoder's `unknown_label`, which decodes to a stand-in). AssertionError names the
    first contract broken and the sequence."""
    from musekit.encoders.base import Encoder, check_contract
    check_contract(encoder)
    for index, events in enumerate(events_list):
        where = '%r, sequence %d' % (encoder.name, index)
        encoder.validate_events(events)
        inputs, labels = encoder.encode(events)
        derived_inputs, derived_labels = Encoder.encode(encoder, events)
        steps = max(len(events) - 1, 0)
        for what, array, derived, spec in (('inputs', inputs, derived_inputs, encoder.input_spec),
                                           ('labels', labels, derived_labels, encoder.label_spec)):
            assert isinstance(array, np.ndarray) and array.dtype == spec.dtype, (
                '%s: encode gives %s %s, declared %s' % (where, what, getattr(
                    array, 'dtype', type(array)), spec.dtype))
            assert array.shape == (steps,) + spec.shape, (
                '%s: encode gives %s of shape %s, declared %s for %d events'
                % (where, what, array.shape, (steps,) + spec.shape, len(events)))
            assert derived.dtype == array.dtype and np.array_equal(derived, array), (
                "%s: the stepper's %s differ from encode's (first at step %s)"
                % (where, what, _first_difference(derived, array)))
            if spec.depth is not None and array.size:
                assert 0 <= array.min() and array.max() < spec.depth, (
                    '%s: %s outside [0, %d): %d..%d' % (where, what, spec.depth,
                                                        array.min(), array.max()))
            if spec.dtype == 'float32':
                assert np.isfinite(array).all(), '%s: %s not finite' % (where, what)
        _check_stepper(encoder, events, inputs, where)
        if steps:
            decoded = encoder.decode(labels, primer=events[:1])
            _, again = Encoder.encode(encoder, decoded)
            exact = np.ones(steps, bool) if encoder.unknown_label is None else (
                labels.reshape(steps, -1) != encoder.unknown_label).any(1)
            assert np.array_equal(again[exact], labels[exact]), (
                '%s: decoding the labels and encoding the result changes label %s'
                % (where, _first_difference(again[exact], labels[exact])))


def _check_stepper(encoder, events, inputs, where):
    """A stepper primed with half the events, and a copy of it, each push the next event
    as the encoding says; the original keeps its events when the copy pushes."""
    half = len(events) // 2
    if half >= len(events) - 1:
        return
    primed = encoder.stepper(events[:half])
    branch = primed.copy()
    row = branch.push(events[half])
    assert len(primed.events) == half and len(branch.events) == half + 1, (
        '%s: pushing to a copy of a stepper changed the original' % where)
    assert np.array_equal(row, inputs[half]) and np.array_equal(primed.push(events[half]), row), (
        '%s: a stepper primed with %d events pushes another input than encode gives'
        % (where, half))
    for t in range(half + 1, len(events) - 1):
        assert np.array_equal(branch.push(events[t]), inputs[t]), (
            '%s: a copied stepper pushes another input than encode gives at step %d'
            % (where, t))
    assert len(primed.events) == half + 1, '%s: pushing to a copy changed the original' % where


def _first_difference(a, b):
    """Index of the first step where arrays a and b differ, or their shapes if they differ."""
    if a.shape != b.shape:
        return 'shapes %s and %s' % (a.shape, b.shape)
    differ = (a != b).reshape(len(a), -1).any(1)
    return int(np.argmax(differ)) if differ.any() else None
