"""WaveNet generation speed and quality: the fast (cached-queue) generator against the
naive one that recomputes the receptive field for every sample, and the bundle's eval NLL
against the unigram entropy of the eval data's mu-law classes.

    python benchmarks/wavenet.py [--bundle_file=wavenet] [--eval_data='/tmp/wds/eval_clips-*']

Speeds are samples per second of the generation loop `musekit_generate` runs (sampling
included), measured after a full receptive field, so each step costs what it costs in a
long clip; medians of --repeats runs. The real-time factor is fast batch-1 samples/s over
the sample rate. Without --eval_data only the speeds are printed.
"""
import argparse
import glob
import math
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

from musekit.bundle import load_bundle  # noqa: E402
from musekit.generation.sampling import Batch  # noqa: E402
from musekit import testing  # noqa: E402
from musekit.models import wavenet  # noqa: E402


def primed_batch(model, encoder, arch, batch_size, naive):
    """A generation Batch whose rows have a full receptive field of history (a 220 Hz
    tone), as deep into a clip as generation gets."""
    tone = (0.5 * np.sin(2 * np.pi * 220 * np.arange(arch.receptive_field) / 8000)).tolist()
    if naive:       # its state is the history itself: set it rather than step 2,047 times
        batch = Batch.from_primer(model, encoder, [''], batch_size)
        stepper = encoder.stepper([''] + tone[:-1])
        inputs = np.array([encoder.sample_class(x) for x in tone[:-1]], np.int64)
        batch.state = (np.tile(inputs, (batch_size, 1)),)
        batch.steppers = [stepper.copy() for _ in range(batch_size)]
        batch.pending = [tone[-1]] * batch_size
        return batch
    return Batch.from_primer(model, encoder, [''] + tone, batch_size)


def samples_per_second(model, encoder, arch, batch_size, steps, naive, repeats):
    rates = []
    for seed in range(repeats):
        batch = primed_batch(model, encoder, arch, batch_size, naive)
        rng = np.random.default_rng(seed)
        start = time.perf_counter()
        for _ in range(steps):
            batch.step(1.0, rng)
        rates.append(steps * batch_size / (time.perf_counter() - start))
    return statistics.median(rates)


def eval_bits(bundle, encoder, arch, pattern):
    """(model's NLL, unigram entropy), bits per sample over the eval clips' outputs that
    see a full receptive field, and how many samples that is."""
    from musekit.data import example, tfrecord
    files = sorted(glob.glob(pattern))
    if not files:
        sys.exit('no files match --eval_data %r' % pattern)
    nll, counts, total = 0.0, np.zeros(arch.classes), 0
    warmup = arch.receptive_field - 1
    for path in files:
        for data in tfrecord.read_record_file(path):
            inputs, labels = example.parse_sequence_example(data)
            inputs = inputs[:, 0] if inputs.shape[1] == 1 else inputs
            logits = testing.wavenet_forward(bundle.weights, arch, inputs[None])[0, warmup:]
            labels = labels.reshape(-1)[warmup:]
            logits = logits.astype(np.float64)
            top = logits.max(1, keepdims=True)
            log_z = (top + np.log(np.exp(logits - top).sum(1, keepdims=True)))[:, 0]
            nll += float((log_z - logits[np.arange(len(labels)), labels]).sum())
            counts += np.bincount(labels, minlength=arch.classes)
            total += len(labels)
    p = counts[counts > 0] / total
    return nll / total / math.log(2), float(-(p * np.log2(p)).sum()), total


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--bundle_file', default='wavenet')
    parser.add_argument('--eval_data', default=None)
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args()
    bundle = load_bundle(args.bundle_file)
    encoder = bundle.make_encoder()
    hparams = dict(bundle.config.hparams)
    arch = wavenet.Architecture(encoder, hparams)
    rate = bundle.config.make_extractor().sample_rate
    fast = bundle.step_model(encoder)
    naive = testing.NaiveWaveNetStepModel(bundle.weights, arch)
    samples_per_second(fast, encoder, arch, 1, 10, False, 1)     # compile the kernel first
    print('bundle %s: %d layers (%d stacks), receptive field %d samples = %.0f ms at %d Hz, '
          '%s training steps' % (args.bundle_file, arch.num_layers, arch.stacks,
                                 arch.receptive_field, 1000 * arch.receptive_field / rate,
                                 rate, bundle.provenance.get('training_steps', '?')))
    print('generation, samples/s (median of %d; after a full receptive field):'
          % args.repeats)
    print('  batch   fast       naive    fast/naive')
    fast_one = None
    for batch_size in (1, 8):
        f = samples_per_second(fast, encoder, arch, batch_size, 8000, False, args.repeats)
        n = samples_per_second(naive, encoder, arch, batch_size, 40, True, args.repeats)
        fast_one = fast_one or f
        print('  %5d  %8.0f  %8.1f  %8.0fx' % (batch_size, f, n, f / n))
    print('real-time factor (fast, batch 1, %d Hz): %.2fx' % (rate, fast_one / rate))
    if args.eval_data:
        start = time.perf_counter()
        bits, entropy, total = eval_bits(bundle, encoder, arch, args.eval_data)
        print('eval NLL %.3f bits/sample vs unigram entropy %.3f bits/sample of the eval '
              "data's mu-law classes: %.3f bits better (%s samples, %.0f s)"
              % (bits, entropy, entropy - bits, '{:,}'.format(total),
                 time.perf_counter() - start))


if __name__ == '__main__':
    main()
