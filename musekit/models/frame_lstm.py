"""An LSTM piano-roll model (the baseline of the polyphonic benchmarks): LSTM layers over
frames, a dense logit per key (`musekit.models.frames`). hparams: layer_sizes."""
from musekit.layers import lstm
from musekit.models.base import register
from musekit.models.frames import FrameModel


@register('frame_lstm')
class FrameLSTM(FrameModel):

    def recurrent_layer(self, units, name, hparams):
        return lstm.keras_layer(units, name)

    def layer_variables(self, layer, name):
        return lstm.keras_variables(layer, name)

    def layer_shapes(self, name, input_size, units, hparams):
        return lstm.weight_shapes(name, input_size, units)

    def numpy_layer(self, weights, name, hparams):
        return lstm.from_weights(weights, name)
