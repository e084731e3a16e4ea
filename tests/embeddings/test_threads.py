"""Loading the torch model leaves BLAS single-threaded (its idle threads spun against torch's), unless the user chose."""

from __future__ import annotations

import json
import os
import subprocess
import sys

_PROBE = """
import json
from threadpoolctl import threadpool_info
from autocode.embeddings import get_encoder
get_encoder('minilm').encode(['probe'])
import faiss  # loaded after the model: its OpenBLAS reads the variable at load
print(json.dumps([(i['filepath'], i['num_threads']) for i in threadpool_info() if i['user_api'] == 'blas']))
"""


def _blas_threads(**env: str) -> list[tuple[str, int]]:
    clean = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", _PROBE], env={**clean, **env}, capture_output=True, text=True,
                          timeout=300, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_minilm_load_limits_every_blas_library_to_one_thread() -> None:
    pools = _blas_threads()
    assert any("numpy" in path for path, _ in pools) and any("faiss" in path for path, _ in pools), pools
    assert all(n == 1 for _, n in pools), pools


def test_a_users_openblas_setting_is_left_alone() -> None:
    pools = _blas_threads(OPENBLAS_NUM_THREADS="2")
    assert all(n == 2 for _, n in pools), pools
