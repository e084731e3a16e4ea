"""CPU threads: keep the BLAS libraries' idle threads from spinning against torch's on a small machine."""

from __future__ import annotations

import os

_DONE = False


def quiet_blas() -> None:
    """Give numpy's, SciPy's and FAISS's OpenBLAS one thread each, unless OPENBLAS_NUM_THREADS is set.

    OpenBLAS worker threads busy-wait for a while after every call. Between torch calls, our small numpy
    matmuls (scores against label vectors) left them spinning on both cores while torch's own threads
    wanted them: micro-batches of 16 texts classified at 116 texts/s instead of 288 (measured, 2 cores).
    Torch does the heavy work, so single-threaded BLAS costs little. Libraries already loaded are limited
    through threadpoolctl; the variable covers those loaded later (each reads it once, when it loads).
    """
    global _DONE
    if _DONE or "OPENBLAS_NUM_THREADS" in os.environ:
        return
    from threadpoolctl import threadpool_limits

    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    threadpool_limits(limits=1, user_api="blas")
    _DONE = True
