"""Batched sampling: every output advances together, one model step per time step.

The model sees each event once: the primer builds the state (batch 1, then copied to every
output), and each new step feeds only the newest event. The history is never re-run. How
one step's label is drawn is the step model's (`StepModel.step_and_sample`); what event a
label stands for is the encoder's (`Encoder.label_to_event`).
"""
import dataclasses

import numpy as np

from musekit.errors import MusekitError, check_int


@dataclasses.dataclass
class Generated:
    """Generated event sequences (primer included) and their log-likelihoods."""
    events: list              # num_outputs lists of events, each num_steps long
    log_likelihood: np.ndarray  # [num_outputs]: sum of log p(sampled label) after the primer
    primer_length: int
    candidates: np.ndarray = None  # beam search: [num_outputs, K] final candidates' scores


def check_args(encoder, primer, num_steps, num_outputs, temperature):
    """Validates the arguments every generation takes; returns the primer as a list."""
    primer = list(primer)
    if not primer:
        raise MusekitError('the primer needs at least one event')
    encoder.validate_events(primer)
    check_int('num_outputs', num_outputs, 1)
    check_int('num_steps', num_steps, 1)
    if num_steps < len(primer):
        raise MusekitError('num_steps (%d) is shorter than the primer (%d steps); num_steps '
                           'counts the primer too' % (num_steps, len(primer)))
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
            or not temperature > 0 or temperature == float('inf'):
        raise MusekitError('temperature must be a positive number, got %r' % (temperature,))
    return primer


def check_beam_args(beam_size, branch_factor, steps_per_iteration):
    """Validates beam search's own arguments."""
    check_int('beam_size', beam_size, 1)
    check_int('branch_factor', branch_factor, 1)
    check_int('steps_per_iteration', steps_per_iteration, 1)


def prime(model, encoder, primer):
    """(stepper, state) for batch 1 after feeding all primer events but the last."""
    stepper = encoder.stepper([])
    state = model.initial_state(1)
    for event in primer[:-1]:
        _, state = model.step(stepper.push(event)[None], state)
    return stepper, state


def log_softmax(logits, temperature):
    """float64 log-probabilities of logits / temperature, row by row."""
    scaled = np.asarray(logits, np.float64) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    return scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))


def sample_classes(log_probs, rng):
    """One class per row drawn from exp(log_probs) by inverse CDF (one uniform per row)."""
    cumulative = np.cumsum(np.exp(log_probs), axis=1)
    u = rng.random((len(log_probs), 1)) * cumulative[:, -1:]
    return np.minimum((cumulative <= u).sum(axis=1), log_probs.shape[1] - 1)


def sample_categorical(logits, temperature, rng, top_k):
    """(classes [B], their log-probabilities [B]) for logits [B, C] at `temperature`;
    with `top_k` (0 < k < C), from each row's k likeliest classes, renormalised (0: all)."""
    logits = np.asarray(logits, np.float64)
    if 0 < top_k < logits.shape[1]:
        kth = np.partition(logits, -top_k, axis=1)[:, -top_k][:, None]
        logits = np.where(logits >= kth, logits, -np.inf)
    log_probs = log_softmax(logits, temperature)
    classes = sample_classes(log_probs, rng)
    return classes, log_probs[np.arange(len(classes)), classes]


class Batch:
    """Rows advancing together: one stepper, pending event and score per row, shared state.

    With a steering, each row has its own steering copy. A row is `finished` once its
    steering says so (checked as each event is fed, so O(1) a step); with `freeze` (sampling)
    a finished row then stands still (`frozen`: its events are all fed, none pending), while
    without it (beam search) it goes on, so candidates always compare at equal lengths, and
    the batch is done once every row has finished."""

    def __init__(self, model, encoder, steppers, pending, state, log_likelihood,
                 steers=None, finished=None, frozen=None, last_inputs=None, freeze=True):
        self.model, self.encoder = model, encoder
        self.steppers, self.pending = steppers, pending
        self.state, self.log_likelihood = state, log_likelihood
        self.steers, self.freeze = steers, freeze
        size = len(steppers)
        self.finished = np.zeros(size, bool) if finished is None else finished
        self.frozen = np.zeros(size, bool) if frozen is None else frozen
        self.last_inputs = last_inputs

    @classmethod
    def from_primer(cls, model, encoder, primer, size, steering=None, freeze=True):
        stepper, state = prime(model, encoder, primer)
        steppers = [stepper] + [stepper.copy() for _ in range(size - 1)]
        state = model.select(state, np.zeros(size, np.int64))
        steers = None
        finished = np.zeros(size, bool)
        if steering is not None:        # the caller's steering is copied, never advanced
            first = steering.copy()
            finished[:] = first.finished(list(primer))
            steers = [first] + [first.copy() for _ in range(size - 1)]
        # a primer that is complete already is the whole output (its last event unfed)
        return cls(model, encoder, steppers, [primer[-1]] * size, state, np.zeros(size),
                   steers, finished, finished.copy(), freeze=freeze)

    @property
    def all_finished(self):
        return bool(self.finished.all())

    def step(self, temperature, rng):
        """Feeds each row's pending event, samples the next one and adds its log-prob; a
        steered row may take a forced event instead, and a frozen row stands still."""
        if self.steers is None:
            inputs = np.stack([s.push(e) for s, e in zip(self.steppers, self.pending)])
        else:
            inputs = self._feed_steered()
            if self.all_finished:       # nothing left to sample: every event is fed
                self.pending = [None] * len(self.pending)
                self.frozen[:] = True
                return
        self.last_inputs = inputs
        labels, log_probs, self.state = self.model.step_and_sample(inputs, self.state,
                                                                   temperature, rng)
        label_to_event = self.encoder.label_to_event
        if self.steers is None:
            self.log_likelihood = self.log_likelihood + log_probs
            self.pending = [label_to_event(label, s.events)
                            for label, s in zip(labels, self.steppers)]
            return
        scored = ~self.frozen
        for row, (label, stepper, steer) in enumerate(zip(labels, self.steppers,
                                                          self.steers)):
            if self.frozen[row]:
                continue
            events = stepper.events
            forced = steer.forced(events)
            if forced is None:
                self.pending[row] = label_to_event(label, events)
            else:
                self.pending[row] = forced
                scored[row] = False
        self.log_likelihood = self.log_likelihood + np.where(scored, log_probs, 0.0)

    def _feed_steered(self):
        """Inputs of every row's pending event (a frozen row repeats its last input, whose
        outputs are ignored), asking each steering whether its row is now finished."""
        rows = []
        for row, (stepper, event, steer) in enumerate(zip(self.steppers, self.pending,
                                                          self.steers)):
            if self.frozen[row]:
                rows.append(self.last_inputs[row] if self.last_inputs is not None
                            else np.zeros(self.encoder.input_spec.shape,
                                          self.encoder.input_spec.dtype))
                continue
            rows.append(stepper.push(event))
            if not self.finished[row] and steer.finished(stepper.events):
                self.finished[row] = True
                if self.freeze:
                    self.frozen[row] = True
                    self.pending[row] = None
        return np.stack(rows)

    def select(self, indices):
        """A Batch of the rows `indices` (repeats allowed: repeated rows are copied)."""
        seen, steppers, steers = set(), [], None if self.steers is None else []
        for i in indices.tolist():
            repeat = i in seen
            steppers.append(self.steppers[i].copy() if repeat else self.steppers[i])
            if steers is not None:
                steers.append(self.steers[i].copy() if repeat else self.steers[i])
            seen.add(i)
        return Batch(self.model, self.encoder, steppers, [self.pending[i] for i in indices],
                     self.model.select(self.state, indices), self.log_likelihood[indices],
                     steers, self.finished[indices], self.frozen[indices],
                     None if self.last_inputs is None else self.last_inputs[indices],
                     self.freeze)

    def events(self, row):
        pending = self.pending[row]
        return self.steppers[row].events + ([] if pending is None else [pending])


def sample(model, encoder, primer, num_steps, num_outputs=1, temperature=1.0, seed=None,
           progress=None, steering=None, on_step=None):
    """`num_outputs` sequences of `num_steps` events (primer included), sampled in one batch.

    Same seed, model and arguments give identical output. `progress(done, total)` is called
    after each step; so is `on_step(done, total, events)`, for a caller that shows partial
    results: `events()` returns each output's events so far (primer included), built only
    when called. A `steering` (generation.steering) may force events and end rows early.
    """
    primer = check_args(encoder, primer, num_steps, num_outputs, temperature)
    rng = np.random.default_rng(seed)
    batch = Batch.from_primer(model, encoder, primer, num_outputs, steering)
    total = num_steps - len(primer)
    if total == 0:
        return Generated([list(primer) for _ in range(num_outputs)], np.zeros(num_outputs),
                         len(primer))
    for done in range(1, total + 1):
        if batch.all_finished:
            break
        batch.step(temperature, rng)
        if progress:
            progress(total if batch.all_finished else done, total)
        if on_step:
            on_step(total if batch.all_finished else done, total,
                    lambda: [batch.events(r) for r in range(num_outputs)])
    return Generated([batch.events(r) for r in range(num_outputs)], batch.log_likelihood,
                     len(primer))
