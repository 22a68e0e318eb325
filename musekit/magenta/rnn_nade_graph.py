"""The reader of Magenta's pianoroll_rnn_nade_graph (its generators: rnn-nade, rnn-nade_attn;
musekit's other rnn_nade configs, e.g. rnn_nade_jsb, are no Magenta generator ids):
the recurrent stack (`rnn_cells`) under `decoder/` (it runs inside a seq2seq decoder), a
dense layer `decoder/dense` [U, H + D] to the NADE's biases (b_enc first, then b_dec), and
the NADE's `nade/w_enc` [D, 1, H] and `nade/w_dec_t` [D, H, 1], onto musekit's rnn_nade
(`magenta_attention_rnn_nade` where layer 0 is inside Magenta's attention wrapper).

The bundle scores frames as Magenta's graph does: each key's log-probability is
log(1e-6 + p) (`nade_log_epsilon`)."""
from musekit.magenta import rnn_cells
from musekit.magenta.bundle import register_reader

FAMILY = 'rnn_nade'
DEFAULT_ATTN_LENGTH = 32        # Magenta's rnn-nade_attn default
SCOPE = 'decoder/'
SCOPES = (SCOPE, 'nade/')
MAGENTA_LOG_EPSILON = 1e-6      # magenta.common.nade's _safe_log
DENSE = ('decoder/dense/kernel', 'decoder/dense/bias')
NADE = ('nade/w_enc', 'nade/w_dec_t')


@register_reader(FAMILY, generators=('rnn-nade', 'rnn-nade_attn'))
def read(variables, generator_bundle, config, path):
    """(config dict, weights, their shapes, provenance entries) of the RNN-NADE in
    `variables`; KeyError, IndexError or ValueError where they do not fit."""
    from musekit.models.base import get_model
    rnn_cells.check_residual(variables, path, FAMILY)
    encoder = config.make_encoder()
    keys = encoder.input_spec.size
    stack = rnn_cells.Stack(variables, SCOPE, keys, generator_bundle.metagraph_file, path,
                            DEFAULT_ATTN_LENGTH)
    w_enc, w_dec_t = (variables[name] for name in NADE)
    if w_enc.ndim != 3 or w_enc.shape[1] != 1 or w_dec_t.ndim != 3 or w_dec_t.shape[2] != 1:
        raise ValueError('its NADE weights have shapes %s and %s, not [D, 1, H] and '
                         '[D, H, 1]' % (list(w_enc.shape), list(w_dec_t.shape)))
    weights = dict(stack.weights)
    weights.update({'nade_bias/kernel': variables[DENSE[0]],
                    'nade_bias/bias': variables[DENSE[1]],
                    'nade/w_enc': w_enc[:, 0, :], 'nade/w_dec': w_dec_t[:, :, 0]})
    hparams = {**stack.hparams, 'nade_hidden_units': int(w_enc.shape[2]),
               'nade_log_epsilon': MAGENTA_LOG_EPSILON}
    rnn_cells.check_unused(variables, stack.used | set(DENSE) | set(NADE), SCOPES, FAMILY)
    config = config.with_hparams(hparams).to_dict()
    if stack.attention:
        config['model'] = {'name': 'magenta_attention_rnn_nade'}
    shapes = get_model(config['model']['name']).weight_shapes(encoder, config['hparams'])
    return config, weights, shapes, {'attn_length_from': stack.attn_length_from}
