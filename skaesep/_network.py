"""The network core: forward pass, backpropagation and inference on ``(weights, biases)``.

Pure functions on lists of weight matrices and bias vectors, after
``sklearn/neural_network/_multilayer_perceptron.py``'s ``_forward_pass`` and
``_backprop``. Every unit is a sigmoid. One :func:`backprop` serves every
loss: the reconstruction fine-tuning of :class:`StackedRBMAutoencoder` and,
through a *code hook* at the code layer, the discriminative fine-tuning
through the source masks. A :class:`Workspace` holds every intermediate array
of a step, so a training step allocates nothing beyond its loss's own needs.
"""

import numpy as np
from sklearn.utils import gen_batches

from ._base import binary_cross_entropy, sigmoid_, sigmoid_derivative_

#: Rows per product in :func:`propagate`: bounds inference memory.
INFERENCE_BATCH = 4096


class Workspace:
    """Every array one :func:`backprop` step needs.

    Parameters
    ----------
    weights : list of ndarray
        The network's weights (only their shapes are used).
    n_rows : int
        Rows (mini-batch size) of the encoder's layers at most.
    dtype : dtype
        Dtype of the arrays.
    n_encoder : int, default=None
        Encoder layers; with ``decoder_rows`` the decoder's layers get
        ``decoder_rows`` rows (e.g. one decode per source of each mixture).
    decoder_rows : int, default=None
        Rows of the decoder's layers; ``None`` means ``n_rows``.
    """

    def __init__(self, weights, n_rows, dtype, *, n_encoder=None, decoder_rows=None):
        n_encoder = len(weights) if n_encoder is None else n_encoder
        rows = [n_rows if i < n_encoder else (decoder_rows or n_rows) for i in range(len(weights))]
        self.n_rows = n_rows
        self.dtype = np.dtype(dtype)
        self.acts = [np.empty((r, W.shape[1]), dtype=dtype) for r, W in zip(rows, weights)]
        self.deltas = [np.empty((r, W.shape[1]), dtype=dtype) for r, W in zip(rows, weights)]
        # delta at the decoder's input (the masked code), for the code hook.
        self.input_delta = None
        if n_encoder < len(weights):
            self.input_delta = np.empty((rows[-1], weights[n_encoder].shape[0]), dtype=dtype)
        self.scratch = np.empty((rows[-1], weights[-1].shape[1]), dtype=dtype)
        self.grads_W = [np.empty(W.shape, dtype=dtype) for W in weights]
        self.grads_b = [np.empty(W.shape[1], dtype=dtype) for W in weights]

    def fits(self, n_rows, dtype):
        """Whether mini-batches of ``n_rows`` rows of ``dtype`` fit in it."""
        return n_rows <= self.n_rows and np.dtype(dtype) == self.dtype


def _split(team, n):
    """Blocks of ``range(n)`` and the function running a step over them."""
    if team is None:
        return [slice(0, n)], lambda fn: fn(0)
    return team.blocks(n), team.run


def dense_sigmoid(A, W, b, out, team=None):
    """``out = sigmoid(A @ W + b)``, in blocks of output columns shared by ``team``."""
    parts, run = _split(team, W.shape[1])

    def block(k):
        c = parts[k]
        Z = np.matmul(A, W[:, c], out=out[:, c])
        Z += b[c]
        sigmoid_(Z)

    run(block)
    return out


def forward_pass(A, weights, biases, buffers, team=None):
    """Activations of every layer for input ``A``, written into ``buffers``.

    Returns the list ``[A, a_1, ..., a_L]``. With a :class:`~skaesep._parallel.ThreadTeam`
    each layer's output columns are split among its threads.
    """
    n = A.shape[0]
    activations = [A]
    for W, b, buf in zip(weights, biases, buffers):
        activations.append(dense_sigmoid(activations[-1], W, b, buf[:n], team))
    return activations


def backward_pass(
    activations, delta, weights, grads_W, grads_b, delta_buffers, input_delta=None, team=None
):
    """Gradients of the layers from ``delta`` at the last pre-activation.

    Fills ``grads_W`` and ``grads_b``. Consumes ``activations`` (each hidden
    activation ``Z`` is overwritten by ``1 - Z`` once used). With
    ``input_delta`` (an array of ``activations[0]``'s shape) the delta at the
    input, ``delta @ W_0.T``, is written there and returned. With a
    :class:`~skaesep._parallel.ThreadTeam` each layer is one step whose block
    ``k`` is a block of the layer's input units: those rows of the weight
    gradient, those columns of the delta below, and a block of the bias
    gradient.
    """
    n = delta.shape[0]
    for i in range(len(weights) - 1, -1, -1):
        W, A, G, g = weights[i], activations[i], grads_W[i], grads_b[i]
        rows, run = _split(team, W.shape[0])
        cols = _split(team, W.shape[1])[0]
        below = delta_buffers[i - 1][:n] if i else None
        if i == 0 and input_delta is not None:
            below = input_delta[:n]

        def block(k, i=i, W=W, A=A, G=G, g=g, delta=delta, below=below, rows=rows, cols=cols):
            r = rows[k]
            np.matmul(A[:, r].T, delta, out=G[r])
            np.sum(delta[:, cols[k]], axis=0, out=g[cols[k]])
            if below is None:
                return
            d = np.matmul(delta, W[r].T, out=below[:, r])
            if i:
                # delta @ W.T times the sigmoid's derivative Z * (1 - Z); the
                # activation Z is not needed after this, so it holds 1 - Z.
                Z = A[:, r]
                d *= Z
                np.subtract(1, Z, out=Z)
                d *= Z

        run(block)
        delta = below
    return delta


def reconstruction_loss(output, target, delta, workspace):
    """Cross-entropy of the reconstruction; writes the output delta into ``delta``.

    With a sigmoid output and cross-entropy the delta at the output's
    pre-activation is ``output - target`` (divided by the mini-batch size:
    the gradients are of the loss summed per input).
    """
    n = output.shape[0]
    loss = binary_cross_entropy(target, output, workspace.scratch[:n], delta)
    np.subtract(output, target, out=delta)
    delta /= n
    return loss


def backprop(
    X,
    weights,
    biases,
    workspace,
    *,
    target=None,
    loss=reconstruction_loss,
    n_encoder=None,
    code_hook=None,
    team=None,
):
    """Loss of one mini-batch and the gradients of every parameter.

    Parameters
    ----------
    X : ndarray of shape (n, n_in)
        Network inputs.
    weights, biases : list of ndarray
        Encoder then decoder layers.
    workspace : Workspace
        Large enough for ``X`` (and for the code hook's decoder rows).
    target : ndarray, default=None
        Target of the output; ``None`` means ``X`` (reconstruction).
    loss : callable, default=reconstruction_loss
        ``loss(output, target, delta, workspace) -> float`` writes the delta
        at the output's pre-activation into ``delta``.
    n_encoder : int, default=None
        Encoder layers, needed with ``code_hook``.
    code_hook : object, default=None
        Maps the code layer to the decoder's input and back:
        ``forward(code) -> decoder_input`` and
        ``backward(decoder_input_delta) -> code_delta`` (before the code
        layer's sigmoid derivative). ``None`` decodes the code itself.
    team : ThreadTeam, default=None
        Threads sharing each layer's products (:func:`forward_pass`,
        :func:`backward_pass`); ``None`` runs them in the caller.

    Returns
    -------
    loss : float
        The loss's value.
    grads : list of ndarray
        Gradients of the weights then of the biases, in ``workspace``.
    """
    ws = workspace
    target = X if target is None else target
    if code_hook is None:
        activations = forward_pass(X, weights, biases, ws.acts, team)
        output = activations[-1]
        delta = ws.deltas[-1][: output.shape[0]]
        value = loss(output, target, delta, ws)
        backward_pass(activations, delta, weights, ws.grads_W, ws.grads_b, ws.deltas, team=team)
        return value, ws.grads_W + ws.grads_b
    k = n_encoder
    enc = forward_pass(X, weights[:k], biases[:k], ws.acts[:k], team)
    code = enc[-1]
    dec = forward_pass(code_hook.forward(code), weights[k:], biases[k:], ws.acts[k:], team)
    output = dec[-1]
    delta = ws.deltas[-1][: output.shape[0]]
    value = loss(output, target, delta, ws)
    d_input = backward_pass(
        dec,
        delta,
        weights[k:],
        ws.grads_W[k:],
        ws.grads_b[k:],
        ws.deltas[k:],
        input_delta=ws.input_delta,
        team=team,
    )
    d_code = sigmoid_derivative_(code, code_hook.backward(d_input))
    backward_pass(
        enc, d_code, weights[:k], ws.grads_W[:k], ws.grads_b[:k], ws.deltas[:k], team=team
    )
    return value, ws.grads_W + ws.grads_b


def propagate(X, weights, biases, team=None):
    """Sigmoid activations of the last layer, in blocks of :data:`INFERENCE_BATCH` rows.

    Computed in ``X``'s dtype. With a :class:`~skaesep._parallel.ThreadTeam`
    each block's rows are split among its threads, each taking its rows
    through every layer; two buffers of the widest hidden layer per split
    are reused by every block.
    """
    dtype = X.dtype
    weights = [W.astype(dtype, copy=False) for W in weights]
    biases = [b.astype(dtype, copy=False) for b in biases]
    n = X.shape[0]
    out = np.empty((n, weights[-1].shape[1]), dtype=dtype)
    if n == 0:
        return out
    parts, run = _split(team, min(n, INFERENCE_BATCH))
    width = max([W.shape[1] for W in weights[:-1]], default=0)
    bufs = [
        [np.empty((p.stop - p.start) * width, dtype=dtype) for _ in range(2 if width else 0)]
        for p in parts
    ]

    def rows(k, batch, split):
        start, stop = batch.start + split[k].start, batch.start + split[k].stop
        if stop == start:
            return
        A = X[start:stop]
        if not A.flags.c_contiguous:
            A = np.ascontiguousarray(A)
        m = stop - start
        for i, (W, b) in enumerate(zip(weights, biases)):
            if i + 1 == len(weights):
                Z = out[start:stop]
            else:
                Z = bufs[k][i % 2][: m * W.shape[1]].reshape(m, W.shape[1])
            Z = np.matmul(A, W, out=Z)
            Z += b
            A = sigmoid_(Z)

    for batch in gen_batches(n, INFERENCE_BATCH):
        # A shorter last block splits into parts no larger than the buffers'.
        split = _split(team, batch.stop - batch.start)[0]
        run(lambda k, batch=batch, split=split: rows(k, batch, split))
    return out
