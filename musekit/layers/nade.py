"""The NADE (Larochelle & Murray, 2011) over one binary frame of D keys, with external
biases as the RNN-NADE feeds it: NumPy log-probabilities and exact sampling for generation,
and the teacher-forced conditional logits that training's loss reads (Keras ops).

With encoder bias b [H], decoder bias c [D], weights W_enc [D, H] and W_dec [D, H], key i
is on with probability

    p_i = sigmoid(c_i + sigmoid(b + sum_{j<i} x_j W_enc[j]) . W_dec[i])

so log p(x) = sum_i x_i log p_i + (1 - x_i) log(1 - p_i). Magenta's graph takes
log(epsilon + p) with epsilon = 1e-6 (its `_safe_log`); `epsilon` here does the same
(0: the exact log, computed stably from the logits).
"""
import numpy as np


def _sigmoid(x):
    """sigmoid(x) without overflow warnings."""
    return 0.5 * np.tanh(0.5 * x) + 0.5


def _log_sigmoid(x):
    """log sigmoid(x), stable for any x."""
    return -(np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x))))


def key_log_probs(logits, on, epsilon=0.0):
    """log P(key = on) per key for conditional logits (any shape, float64 result)."""
    logits = np.asarray(logits, np.float64)
    if epsilon:
        p = _sigmoid(logits)
        return np.where(on, np.log(epsilon + p), np.log(epsilon + 1.0 - p))
    return _log_sigmoid(np.where(on, logits, -logits))


def conditional_logits(x, b_enc, b_dec, w_enc, w_dec):
    """[B, D] logits of each key given the keys of `x` [B, D] below it (teacher forcing)."""
    x = np.asarray(x, np.float64)
    contributions = x[:, :, None] * w_enc[None]                        # [B, D, H]
    a = np.cumsum(contributions, axis=1) - contributions + b_enc[:, None, :]
    return b_dec + np.einsum('bdh,dh->bd', _sigmoid(a), w_dec)


def log_prob(x, b_enc, b_dec, w_enc, w_dec, epsilon=0.0):
    """[B] log-probabilities of frames `x` [B, D] (0/1) under the NADE of biases
    b_enc [B, H], b_dec [B, D]."""
    logits = conditional_logits(x, b_enc, b_dec, w_enc, w_dec)
    return key_log_probs(logits, np.asarray(x) > 0.5, epsilon).sum(axis=1)


def sample(b_enc, b_dec, w_enc, w_dec, temperature, rng, threshold=False, epsilon=0.0):
    """(frames [B, D] int64 0/1, their log-probabilities [B]): keys drawn one after another,
    lowest first, each from its conditional given the keys already drawn.

    Each key's logit is divided by `temperature` before its draw (Magenta's Nade.sample),
    and the log-probability is of the distribution drawn from (the tempered one). With
    `threshold`, a key is on where its (untempered) p >= 0.5, as Magenta's generator
    decides, and the log-probability is the model's."""
    b_enc = np.asarray(b_enc, np.float64)
    b_dec = np.asarray(b_dec, np.float64)
    batch, dims = b_dec.shape
    a = b_enc.copy()
    frames = np.zeros((batch, dims), np.int64)
    log_p = np.zeros(batch)
    scale = 1.0 if threshold else 1.0 / temperature
    draws = None if threshold else rng.random((batch, dims))
    for i in range(dims):
        logit = (b_dec[:, i] + _sigmoid(a) @ w_dec[i]) * scale
        if threshold:
            on = logit >= 0.0
        else:
            on = draws[:, i] < _sigmoid(logit)
        log_p += key_log_probs(logit, on, epsilon)
        frames[:, i] = on
        a += on[:, None] * w_enc[i]
    return frames, log_p


def keras_conditional_logits(x, b_enc, b_dec, w_enc, w_dec):
    """`conditional_logits` in Keras ops over [..., D] frames: x [..., D], b_enc [..., H],
    b_dec [..., D] -> [..., D]. Holds a [..., D, H] tensor (the hidden units of every key)."""
    from keras import ops
    contributions = x[..., :, None] * w_enc                                # [..., D, H]
    a = ops.cumsum(contributions, axis=-2) - contributions + b_enc[..., None, :]
    return b_dec + ops.sum(ops.sigmoid(a) * w_dec, axis=-1)
