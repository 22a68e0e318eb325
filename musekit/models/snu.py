"""SNU and sSNU piano-roll models: layers of spiking neural units over frames, a dense
logit per key (`musekit.models.frames`). hparams: layer_sizes, output ('step' for the SNU,
'sigmoid' for the sSNU), decay, g ('identity' or 'leaky_relu'), recurrent."""
from musekit.layers import snu
from musekit.models.base import register
from musekit.models.frames import FrameModel


def _options(hparams):
    options = {'output': hparams.get('output', 'step'), 'decay': hparams.get('decay', 0.8),
               'g': hparams.get('g', 'identity'),
               'recurrent': hparams.get('recurrent', False)}
    snu.check_options(**options)
    return options


@register('snu')
class SNUModel(FrameModel):
    architecture_hparams = ('layer_sizes', 'recurrent', 'output', 'g', 'decay')

    def recurrent_layer(self, units, name, hparams):
        return snu.keras_layer(units, name, **_options(hparams))

    def layer_variables(self, layer, name):
        return snu.keras_variables(layer, name)

    def layer_shapes(self, name, input_size, units, hparams):
        return snu.weight_shapes(name, input_size, units, _options(hparams)['recurrent'])

    def numpy_layer(self, weights, name, hparams):
        options = _options(hparams)
        return snu.NumpySNUCell.from_weights(weights, name, options['decay'], options['g'],
                                             options['output'])
