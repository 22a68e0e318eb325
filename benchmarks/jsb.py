"""The JSB Chorales polyphonic benchmark: trains piano-roll configs on the published
training split, picks the epoch by validation NLL, and prints test NLL (nats per frame),
frame accuracy and seconds per epoch, next to the per-key-frequency baseline. A model that
also decides articulation (biaxial_jsb) is chosen and compared by its play decisions'
NLL alone (`frame_nll`), the benchmark's figure.

    python benchmarks/jsb.py                                # snu_jsb, ssnu_jsb, lstm_jsb
    python benchmarks/jsb.py --configs=ssnu_jsb --epochs=40 --bundle_dir=bundles

With --bundle_dir, each config's best epoch is written as DIR/CONFIG.musekit, its
validation and test metrics in the provenance, and the whole-process time of
musekit_generate for 10 outputs of 8 bars from it is printed. Published test NLL: RNN
9.10, SNU 8.72, LSTM 8.55-8.67, GRU 8.54, sSNU 8.39 (Woźniak et al., 2020); models that
decide a frame's notes one after another about 5.6 (RNN-NADE, Boulanger-Lewandowski et
al., 2012), the figure of rnn_nade_jsb (that RNN-NADE) and the goal of biaxial_jsb:

    python benchmarks/jsb.py --configs=rnn_nade_jsb --epochs=100 --bundle_dir=bundles
"""
import argparse
import math
import os
import shutil
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
JSB = os.path.join(HERE, '..', 'tests', 'data', 'JSB_Chorales.mat')
PUBLISHED = {'snu_jsb': 8.72, 'ssnu_jsb': 8.39, 'lstm_jsb': 8.55, 'biaxial_jsb': 5.6,
             'rnn_nade_jsb': 5.6}


def nll(metrics):
    """The benchmark's NLL: the play decisions' (frame_nll) where a model reports more
    than that in its loss, else the loss (nats per frame or per token)."""
    return metrics.get('frame_nll', metrics['loss'])


def make_dataset(work, config_name):
    """Converts JSB_Chorales.mat and makes `config_name`'s dataset; returns its folder."""
    import apache_beam as beam
    from musekit.config import get_config
    from musekit.pipelines import convert, create_dataset
    ns = os.path.join(work, 'ns', 'jsb')
    if not os.path.exists(ns + '-00000-of-00001.tfrecord'):
        with beam.Pipeline() as pipeline:
            convert.build_pipeline(pipeline, JSB, ns, num_shards=1)
    config = get_config(config_name)
    out = os.path.join(work, 'ds_' + config_name)
    split = config.make_split()
    config = create_dataset.fit_encoder(config, ns + '*', out, split, [0], None)
    with beam.Pipeline() as pipeline:
        create_dataset.build_pipeline(pipeline, config, ns + '*', out, split, num_shards=1)
    create_dataset.write_description(out, config, ns + '*', split, '', {})
    return out


def key_frequency_nll(dataset_dir, config_name):
    """Test NLL (nats/frame) of independent per-key frequencies counted on the training
    split (add-one smoothed): the baseline every model should beat by far."""
    import tensorflow as tf
    from musekit.data.example import parse_sequence_example

    def labels(part):
        rows = []
        for path in sorted(tf.io.gfile.glob(os.path.join(dataset_dir, part + '_*'))):
            for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
                rows.append(parse_sequence_example(record)[1])
        return np.concatenate(rows).astype(np.float64)

    from musekit.config import get_config
    shape = get_config(config_name).make_encoder().label_spec.shape
    if not shape:
        return None         # not a piano roll (chord tokens)
    train, test = (labels(part).reshape(-1, *shape) for part in ('training', 'test'))
    if train.ndim == 3:
        train, test = train[..., 0], test[..., 0]       # (played, articulated): played
    p = (train.sum(0) + 1) / (len(train) + 2)
    return float(-(test * np.log(p) + (1 - test) * np.log(1 - p)).sum(1).mean())


def run_config(name, dataset_dir, epochs, seed, bundle_dir, log, hparams=''):
    from musekit.bundle import write_bundle
    from musekit.config import get_config
    from musekit.training import Trainer, fit_to_data
    pattern = lambda part: os.path.join(dataset_dir, part + '_*')      # noqa: E731
    config = fit_to_data(get_config(name, hparams or None), pattern('training'))
    run_dir = tempfile.mkdtemp(prefix='jsb-%s-' % name)
    quiet = lambda line: None                                           # noqa: E731
    trainer = Trainer(config, run_dir, seed=seed, log=quiet)
    from musekit.data.dataset import list_files
    import tensorflow as tf
    pieces = sum(1 for f in list_files(pattern('training')) for _ in tf.data.TFRecordDataset(f))
    steps_per_epoch = math.ceil(pieces / int(config.hparams['batch_size']))
    best, seconds = None, []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        trainer.train(pattern('training'), epoch * steps_per_epoch, summary_frequency=10 ** 9,
                      save_checkpoint_steps=0)
        seconds.append(time.perf_counter() - start)
        valid = trainer.evaluate(pattern('eval'))
        line = 'epoch %3d  %.1f s  valid NLL %.3f' % (epoch, seconds[-1], nll(valid))
        if best is None or nll(valid) < nll(best['valid']):
            test = trainer.evaluate(pattern('test'))
            best = {'epoch': epoch, 'valid': valid, 'test': test}
            line += '  test NLL %.3f%s  (best)' % (nll(test), ''.join(
                '  %s %.3f' % (key.replace('_', ' '), test[key])
                for key in ('frame_accuracy', 'accuracy') if key in test))
            if bundle_dir:
                config_dict, weights, provenance = trainer.bundle_parts(
                    pattern('training'), valid)
                provenance.update(epoch=epoch, test={k: v for k, v in test.items()
                                                     if k != 'global_step'},
                                  recipe='python benchmarks/jsb.py --configs=%s --epochs=%d '
                                         '--seed=%d%s' % (name, epochs, seed, " --hparams='%s'"
                                                          % hparams if hparams else ''))
                write_bundle(os.path.join(bundle_dir, name + '.musekit'), config_dict,
                             weights, provenance)
        log('%s %s' % (name, line))
    shutil.rmtree(run_dir, ignore_errors=True)
    return best, float(np.median(seconds[1:] if len(seconds) > 1 else seconds))


def generate_seconds(bundle, work, runs=3):
    """Median wall-clock seconds of `musekit_generate` writing 10 outputs of 8 bars."""
    import subprocess
    from musekit.bundle import load_bundle
    steps = 32 * load_bundle(bundle).config.make_extractor().steps_per_quarter
    command = [os.path.join(os.path.dirname(sys.executable), 'musekit_generate'),
               '--bundle_file=' + bundle, '--output_dir=' + os.path.join(work, 'generated'),
               '--num_outputs=10', '--num_steps=%d' % steps, '--seed=1']
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--configs', default='snu_jsb,ssnu_jsb,lstm_jsb')
    parser.add_argument('--epochs', type=int, default=40)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--hparams', default='', help='overrides for every config, e.g. '
                        "'learning_rate=0.003'")
    parser.add_argument('--bundle_dir', default=None,
                        help="write each config's best epoch as DIR/CONFIG.musekit")
    args = parser.parse_args(argv)
    log = lambda line: print(line, flush=True)                          # noqa: E731
    work = tempfile.mkdtemp(prefix='jsb-bench-')
    try:
        results, datasets = {}, {}
        for name in args.configs.split(','):
            from musekit.config import get_config
            data = get_config(name).to_dict()
            key = repr((data['encoder'], data['data']))
            if key not in datasets:
                datasets[key] = make_dataset(work, name), name
            results[name] = run_config(name, datasets[key][0], args.epochs, args.seed,
                                       args.bundle_dir, log, args.hparams)
        baselines = [key_frequency_nll(*d) for d in datasets.values()]
        baseline = next((b for b in baselines if b is not None), None)
        print('\nJSB Chorales, test split (77 chorales), nats per frame; epoch chosen by '
              'validation NLL')
        print('%-18s %6s %10s %9s %10s %11s %9s' % ('config', 'epoch', 'valid NLL',
                                                   'test NLL', 'published', 'frame acc',
                                                   's/epoch'))
        for name, (best, per_epoch) in results.items():
            test = best['test']
            print('%-18s %6d %10.3f %9.3f %10s %11.3f %9.2f' % (
                name, best['epoch'], nll(best['valid']), nll(test),
                '%.2f' % PUBLISHED[name] if name in PUBLISHED else '-',
                test.get('frame_accuracy', test.get('accuracy', float('nan'))), per_epoch))
        if baseline is not None:
            print('%-18s %6s %10s %9.3f %10s' % ('key frequencies', '-', '-', baseline, '~11'))
        if args.bundle_dir:
            print('\nmusekit_generate, whole process, 10 outputs of 8 bars (median of 3):')
            for name in results:
                print('%-18s %6.2f s' % (name, generate_seconds(
                    os.path.join(args.bundle_dir, name + '.musekit'), work)))
        if any(name not in PUBLISHED for name in results):
            print('(chord tokens: nats per token, accuracy of the likeliest token; a rare '
                  'chord counts as the unknown token)')
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
