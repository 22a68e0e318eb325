"""SNU and sSNU piano-roll models: layers of spiking neural units over frames, a dense
logit per key (`musekit.models.frames`). hparams: layer_sizes, output ('step' for the SNU,
'sigmoid' for the sSNU), decay, g ('identity' or 'leaky_relu'), recurrent."""
import dataclasses
import typing

from musekit import params
from musekit.layers import snu
from musekit.models.base import register
from musekit.models.frames import FrameHparams, FrameModel
from musekit.params import param


@dataclasses.dataclass
class Hparams(FrameHparams):
    """The SNU family's hparams (Wozniak et al. 2020's SNU and sSNU)."""
    output: typing.Literal['step', 'sigmoid'] = param(
        'step', "a unit's output: 'step' (the SNU's spike) or 'sigmoid' (the sSNU)",
        architecture=True)
    decay: float = param(0.8, "the membrane potential's decay per frame", min=0.0, max=1.0,
                         architecture=True)
    g: typing.Literal['identity', 'leaky_relu'] = param(
        'identity', "the membrane's activation", architecture=True)
    recurrent: bool = param(False, 'recurrent weights from the layer\'s own outputs',
                            architecture=True)


def _options(hparams):
    h = params.bind(Hparams, hparams, 'hparam')
    return {'output': h.output, 'decay': h.decay, 'g': h.g, 'recurrent': h.recurrent}


@register('snu')
class SNUModel(FrameModel):
    Hparams = Hparams

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
