"""musekit_import: a Magenta .mag generator bundle -> a musekit bundle, once.

    musekit_import --magenta_bundle=lookback_rnn.mag --bundle_file=lookback_rnn.musekit
    musekit_import --magenta_bundle=performance_with_dynamics.mag --bundle_file=perf.musekit

The .mag is read as data (its checkpoint and graph are parsed, never run); the musekit
bundle it writes loads without TensorFlow and says in its provenance where it came from
(file name, sha256, generator id and descriptions). musekit_generate also reads .mag files
directly; importing once skips the conversion on every run.
"""
import os

from absl import flags

from musekit.cli import command
from musekit.errors import MusekitError

PROGRAM = 'musekit_import'


def define_flags(fv):
    flags.DEFINE_string('magenta_bundle', None, 'The Magenta .mag bundle to read: a '
                        'generator whose id names a musekit config on events_rnn (Melody '
                        'RNN: basic_rnn, mono_rnn, lookback_rnn, attention_rnn; every '
                        'Performance RNN config, e.g. performance_with_dynamics; Polyphony '
                        'RNN: polyphony), of any layer sizes.', flag_values=fv)
    flags.DEFINE_string('bundle_file', None, 'The musekit bundle to write.', flag_values=fv)


SYNOPSIS = '%s --magenta_bundle=FILE.mag --bundle_file=FILE.musekit' % PROGRAM


def main(argv):
    from musekit.bundle import MAGIC, load_bundle, write_bundle
    fv = command.parse_flags(argv, define_flags, SYNOPSIS)
    command.require(fv, ('magenta_bundle', 'bundle_file'))
    source = load_bundle(fv.magenta_bundle)
    with open(source.path, 'rb') as f:
        if f.read(len(MAGIC)) == MAGIC:
            raise MusekitError('%s is already a musekit bundle' % source.path)
    if os.path.isdir(fv.bundle_file):
        raise MusekitError('--bundle_file %s is a folder; name the file to write'
                           % fv.bundle_file)
    if os.path.exists(fv.bundle_file) and os.path.samefile(fv.bundle_file, source.path):
        raise MusekitError('--bundle_file %s is the .mag being read; name another file'
                           % fv.bundle_file)
    try:
        write_bundle(fv.bundle_file, source.config, source.weights, source.provenance)
    except OSError as e:
        raise MusekitError('cannot write --bundle_file %s: %s'
                           % (fv.bundle_file, e.strerror or e)) from None
    hparams = source.config.hparams
    print('%s: wrote %s: Magenta %s (%s), model %s with layers %s%s' % (
        PROGRAM, fv.bundle_file, source.provenance['generator_id'],
        ''.join(c if c.isprintable() else ' '
                for c in source.provenance.get('generator_description', '')),
        source.config.model['name'],
        list(hparams['rnn_layer_sizes']),
        ', attention over %d steps' % hparams['attn_length'] if hparams['attn_length'] else ''))


def run(argv=None):
    """Console entry point: user errors print one line on stderr and exit with status 2."""
    command.run_main(main, argv, PROGRAM)


if __name__ == '__main__':
    run()
