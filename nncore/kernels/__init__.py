"""Numba kernels: the layers' formulas, computed fast.

Each layer's module in `nncore.layers` states its formulas and holds their textbook version in
plain NumPy (`conv2d_reference_forward`, ...); the kernels here are optimisations of it that
compute the same sums, compiled by Numba (`@njit(cache=True)`) for float32 (training) and
float64 (gradient checks) alike. A kernel's docstring lists its optimizations.

    layer (nncore/layers/)    kernel module (here)
    conv.py   Conv2D          conv.py      (bias_relu.py: the bias and the fused ReLU)
    pool.py   MaxPool2D       pool.py
    relu.py   ReLU            relu.py
    dense.py  Dense           dense.py     (bias_relu.py)
    dropout.py  Dropout       dropout.py
    conv_pool.py  Conv2D + MaxPool2D as one step (as the model runs them):
                              conv_pool.py (taps, im2col), winograd.py (3x3: Winograd's F(2x2, 3x3))
    ../loss.py                softmax.py        ../optim.py    optim.py

Conventions: a forward kernel takes its inputs then its flags, `conv2d_forward(x, w, b, relu,
taps)`; a backward kernel takes the gradient, what the forward kept, the inputs, then the
flags, and returns the gradients in the order dx, dw, db. BLAS calls that write into their
last argument carry the formula as a comment: `np.dot(a, b, out)  # out = a @ b`.

Threads: the kernels split a batch into fixed chunks (chunks.py), which the threads of a
`prange` loop take from a queue as each becomes free. Every chunk writes only its own part of
the output, and sums over chunks are taken in a fixed order afterwards, so results never depend
on thread timing or the number of cores. Dropout's loops, over a few thousand numbers, run on
one thread: there, waking the other costs more than it saves. BLAS should be single-threaded,
and the threads should sleep while they wait: nncore/runtime.py.

Stepping through a kernel: with NUMBA_DISABLE_JIT=1 in the environment, every kernel runs as
the plain Python it is written in (`prange` becomes `range`), so a debugger can stop in it.
"""
