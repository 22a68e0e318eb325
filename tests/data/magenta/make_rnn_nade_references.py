"""Makes the RNN-NADE references (not a test; see README.md here): for each small .mag,
what Magenta's own graph computes of given piano-roll frames. Run with a Python where
Magenta 2.1.4 runs (README.md here):

    TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=3 /tmp/vmag/bin/python \\
        tests/data/magenta/make_rnn_nade_references.py NAME.mag NAME2.mag=ATTN_LENGTH ...

writes NAME.golden.npz beside each .mag: per sequence SEQ (`chorale`, `random`)

    SEQ/frames [T, 88] uint8     the frames (keys from MIDI 21)
    SEQ/log_prob [T] float32     Magenta's RnnNade.log_prob of each frame, the first given
                                 the zero frame (as its training scores a sequence)
    SEQ/cond_probs [T, 88]       its conditional probability of each key given the true
                                 keys below it
    SEQ/greedy_frame [88] uint8  the generate graph's `sample` from the state after all T
                                 frames (its greedy key-by-key decision, p >= 0.5)
    SEQ/greedy_log_prob []       that graph's `log_prob` of it
"""
import os
import sys
import tempfile

import numpy as np

CHORALE = 'bwv1.6'
FRAMES = 48


def chorale_frames():
    import music21
    import note_seq
    from note_seq import pianoroll_lib
    path = os.path.join(os.path.dirname(music21.__file__), 'corpus', 'bach', CHORALE + '.mxl')
    ns = note_seq.musicxml_file_to_sequence_proto(path)
    del ns.time_signatures[:]       # its pickup bar is refused by relative quantization
    ns.time_signatures.add(numerator=4, denominator=4, time=0)
    quantized = note_seq.quantize_note_sequence(ns, 4)
    roll = pianoroll_lib.PianorollSequence(quantized_sequence=quantized)
    frames = np.zeros((FRAMES, 88), np.uint8)
    for t, event in enumerate(list(roll)[:FRAMES]):
        frames[t, list(event)] = 1
    return frames


def random_frames():
    rng = np.random.default_rng(2027)
    frames = (rng.random((40, 88)) < 0.06).astype(np.uint8)
    frames[5] = 0                   # an empty frame
    frames[9, :] = 1                # every key
    return frames


def references(mag, attn_length):
    import tensorflow.compat.v1 as tf
    from magenta.models.pianoroll_rnn_nade import pianoroll_rnn_nade_graph as graph
    from magenta.models.pianoroll_rnn_nade import pianoroll_rnn_nade_sequence_generator as gen
    from magenta.models.shared import events_rnn_graph
    from magenta.models.shared import sequence_generator_bundle
    tf.disable_v2_behavior()
    bundle = sequence_generator_bundle.read_bundle_file(mag)
    generator_id = bundle.generator_details.id
    generator = gen.get_generator_map()[generator_id](checkpoint=None, bundle=bundle)
    with tempfile.TemporaryDirectory() as work:
        checkpoint = os.path.join(work, 'model.ckpt')
        with open(checkpoint, 'wb') as f:
            f.write(bundle.checkpoint_file[0])
        variables = dict(tf.train.list_variables(checkpoint))
        # the sizes the bundle was trained with, read off its variables
        sizes, k = [], 0
        wrapped = 'decoder/multi_rnn_cell/cell_0/attention_cell_wrapper/basic_lstm_cell/bias'
        while True:
            name = ('decoder/multi_rnn_cell/cell_%d/basic_lstm_cell/bias' % k
                    if not (k == 0 and wrapped in variables) else wrapped)
            if name not in variables:
                break
            sizes.append(variables[name][0] // 4)
            k += 1
        hidden = variables['nade/w_enc'][2]
        out = {}
        for seq, frames in (('chorale', chorale_frames()), ('random', random_frames())):
            with tf.Graph().as_default(), tf.Session() as session:
                cell = events_rnn_graph.make_rnn_cell(
                    sizes, dropout_keep_prob=1.0, attn_length=attn_length,
                    residual_connections=False)
                rnn_nade = graph.RnnNade(cell, num_dims=88, num_hidden=hidden)
                sequences = tf.placeholder(tf.float32, [1, None, 88])
                log_probs, cond_probs = rnn_nade.log_prob(sequences)
                tf.train.Saver().restore(session, checkpoint)
                lp, cp = session.run([log_probs, cond_probs],
                                     {sequences: frames[None].astype(np.float32)})
            out[seq + '/frames'] = frames
            out[seq + '/log_prob'] = np.asarray(lp, np.float32).reshape(-1)
            out[seq + '/cond_probs'] = np.asarray(cp, np.float32)
            # the generate graph from the bundle's metagraph, as Magenta's generator runs it
            generator.initialize()
            session = generator._model._session
            g = session.graph
            inputs = g.get_collection('inputs')[0]
            batch = int(inputs.shape[0])
            initial = tuple(g.get_collection('initial_state'))
            final = tuple(g.get_collection('final_state'))
            rows = np.repeat(frames[None].astype(np.float32), batch, 0)
            state = session.run(final, {inputs: rows, initial: session.run(initial)})
            # b_enc and b_dec come back for every step (flattened [batch * T, ...]): the
            # last step's are the biases of the frame after all T
            state = (state[0][-batch:], state[1][-batch:]) + tuple(state[2:])
            sample, log_prob = session.run(
                [g.get_collection('sample')[0], g.get_collection('log_prob')[0]],
                {inputs: rows[:, -1:], initial: state})
            out[seq + '/greedy_frame'] = np.asarray(sample[0], np.uint8)
            out[seq + '/greedy_log_prob'] = np.float32(np.ravel(log_prob)[0])
            generator.close()
    return out


def main(paths):
    for arg in paths:               # NAME.mag or NAME.mag=ATTN_LENGTH (it trained with)
        mag, _, attn_length = arg.partition('=')
        out = references(mag, int(attn_length or 0))
        np.savez_compressed(mag[:-len('.mag')] + '.golden.npz', **out)
        print(mag, {k: v.shape for k, v in out.items()})


if __name__ == '__main__':
    main(sys.argv[1:])
