"""How the kernels split a batch for their parallel loops, and share the chunks among threads.

A batch of N images (or rows) is cut into fixed chunks of `size` (the last one may be shorter);
each chunk writes only its own part of the output. Sums over the whole batch (dW, db) are kept
per chunk and added by `sum_chunks` in chunk order, so the result never depends on which thread
ran which chunk, nor on the number of threads.

The threads take the chunks from a queue, as each becomes free:

    queue = chunk_queue()
    for _ in prange(chunks):          # workers: each takes chunks until none is left
        chunk = take_chunk(queue)
        while chunk < chunks:
            ...                       # chunk number `chunk`'s work
            chunk = take_chunk(queue)

A plain `for chunk in prange(chunks)` would give each thread a fixed half of the chunks (Numba's
threading layers split a loop's iterations evenly, before it starts), and the loop would end
when the slower half does: on a busy machine, a thread that shares its core with another process
runs at half speed or less, and the other thread waits for it. From the queue, a free thread
takes the next chunk, so a fast thread takes more (measured with a busy process on the core of
one of our threads: the second layer's backward 28-32 ms from fixed halves, 26-28 ms from the
queue; idle, the same). `prange` starts the workers, as many as chunks; each thread's first
worker takes chunks until the queue is empty, and its others find it empty (a kernel does not
ask for its number of threads: Numba could not cache it).
"""
import numba
import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

IMAGES_PER_CHUNK = 16  # convolutions: the patch matrix of 16 images (about 2 MB) stays in the cache
ROWS_PER_CHUNK = 64    # dense layers: each call to BLAS reads all of W, so give it more rows at once


@njit(cache=True)
def n_chunks(n: int, size: int) -> int:
    return (n + size - 1) // size


@njit(cache=True)
def chunk_bounds(chunk: int, n: int, size: int) -> tuple[int, int]:
    """[start, stop) of chunk number `chunk`."""
    start = chunk * size
    return start, min(start + size, n)


@njit(cache=True)
def sum_chunks(parts: np.ndarray) -> np.ndarray:
    """parts (n_chunks, ...) -> their sum, added in a fixed order: deterministic."""
    total = parts[0].copy()
    for chunk in range(1, parts.shape[0]):
        total += parts[chunk]
    return total


@njit(cache=True)
def chunk_queue() -> np.ndarray:
    """A new queue of chunks: the number of the next chunk to take, 0."""
    return np.zeros(1, dtype=np.int64)


@intrinsic
def fetch_and_add_one(typingctx, counter):
    """counter[0] += 1, returning the value before, as one atomic instruction (LLVM's atomicrmw
    add): of two threads taking a number at the same moment, each gets its own."""
    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        array = context.make_array(array_type)(context, builder, args[0])
        first = cgutils.get_item_pointer(context, builder, array_type, array,
                                         [context.get_constant(types.intp, 0)])
        return builder.atomic_rmw("add", first, context.get_constant(types.int64, 1), "monotonic")
    return types.int64(counter), codegen


@njit(cache=True)
def take_chunk(queue: np.ndarray) -> int:
    """The number of the next chunk nobody has taken yet (the number of chunks, or more, once all
    are taken); queue is from chunk_queue()."""
    return fetch_and_add_one(queue)


if numba.config.DISABLE_JIT:  # plain Python (NUMBA_DISABLE_JIT=1): one thread, prange is range
    def take_chunk(queue: np.ndarray) -> int:  # noqa: F811
        chunk = int(queue[0])
        queue[0] += 1
        return chunk
