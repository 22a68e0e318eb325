"""One WaveNet generation step for a batch, compiled with numba: NumPy's per-call overhead
(dozens of tiny matrix products per sample) would keep one output below real time.

Private module (the model registry does not import it), so numba loads only when a
WaveNet generates. Compiled once per machine (numba's cache).
"""
import numba
import numpy as np


@numba.njit(cache=True, fastmath=False, nogil=True)
def wavenet_step(classes, labels, count, previous, queues, in_current, in_previous, in_bias,
                 current, prev_w, bias, label_w, res_skip, res_skip_bias, dilations,
                 offsets, out1, out1_bias, out2, out2_bias, logits):
    """Feeds each row's input class (and label) through every layer, reading layer k's
    input from dilation_k steps ago out of its queue and storing the new one; writes the
    logits [B, C] and advances `count` and `previous` (all in place)."""
    batch = classes.shape[0]
    num_layers, r, two_d = current.shape
    d = two_d // 2
    k = out1.shape[0]
    h = np.empty(r, np.float32)
    z = np.empty(two_d, np.float32)
    gated = np.empty(d, np.float32)
    skip = np.empty(k, np.float32)
    hidden = np.empty(k, np.float32)
    for b in range(batch):
        c = classes[b]
        for j in range(r):
            h[j] = in_current[c, j] + in_bias[j]
        if previous[b] >= 0:
            for j in range(r):
                h[j] += in_previous[previous[b], j]
        skip[:] = 0.0
        for n in range(num_layers):
            slot = offsets[n] + count[b] % dilations[n]
            for j in range(two_d):
                z[j] = bias[n, j] + label_w[n, labels[b], j]    # zeros when unconditioned
            for i in range(r):
                x, old = h[i], queues[b, slot, i]
                for j in range(two_d):
                    z[j] += x * current[n, i, j] + old * prev_w[n, i, j]
                queues[b, slot, i] = x
            for j in range(d):
                gated[j] = np.tanh(z[j]) / (1.0 + np.exp(-z[d + j]))
            for i in range(d):
                g = gated[i]
                for j in range(r):
                    h[j] += g * res_skip[n, i, j]
                for j in range(k):
                    skip[j] += g * res_skip[n, i, r + j]
            for j in range(r):
                h[j] += res_skip_bias[n, j]
            for j in range(k):
                skip[j] += res_skip_bias[n, r + j]
        for j in range(k):
            hidden[j] = out1_bias[j]
        for i in range(k):
            s = skip[i]
            if s > 0.0:
                for j in range(k):
                    hidden[j] += s * out1[i, j]
        for j in range(logits.shape[1]):
            logits[b, j] = out2_bias[j]
        for i in range(k):
            s = hidden[i]
            if s > 0.0:
                for j in range(logits.shape[1]):
                    logits[b, j] += s * out2[i, j]
        previous[b] = c
        count[b] += 1
