"""Grid search of the separator on a dask.distributed cluster through joblib."""

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, GroupKFold

from skaesep.datasets import make_instrument_stem
from skaesep.presets import make_preset

distributed = pytest.importorskip("distributed")

SR = 8000
#: One BLAS thread per worker process: two single-threaded workers share two cores.
WORKER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _chunked_recordings():
    """Four 3-second recordings (two per instrument), each cut into 1-second clips."""
    clips, labels, recordings = [], [], []
    for recording, (instrument, seed) in enumerate(
        (name, seed) for name in ("drums", "flute") for seed in range(2)
    ):
        stem = make_instrument_stem(instrument, duration=3.0, sr=SR, random_state=seed)
        for chunk in stem.reshape(3, SR):
            clips.append(chunk)
            labels.append(instrument)
            recordings.append(recording)
    return np.stack(clips), np.array(labels), np.array(recordings)


def _search():
    model = make_preset("demo", sr=SR, random_state=0, pretrain_epochs=1, max_iter=5)
    # n_units=None: the clusterer takes the code size of each candidate network.
    model.set_params(pipeline__clusterer__n_units=None)
    grid = {"pipeline__autoencoder__layer_sizes": [(8,), (64, 16)]}
    # Recordings 0-1 are drums, 2-3 flute: each test fold gets one of each.
    return GridSearchCV(model, grid, cv=GroupKFold(n_splits=2), refit=False, error_score="raise")


def _blas_threads():
    from threadpoolctl import threadpool_info

    return sorted(
        {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}
    )


def test_grid_search_on_a_local_cluster_matches_the_default_backend():
    X, y, recordings = _chunked_recordings()
    default = _search().fit(X, y, groups=recordings)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env=WORKER_ENV,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        assert all(threads == [1] for threads in client.run(_blas_threads).values())
        with distributed.get_task_stream(client) as tasks, joblib.parallel_config(backend="dask"):
            on_dask = _search().fit(X, y, groups=recordings)
    workers = {task["worker"] for task in tasks.data}
    assert len(tasks.data) >= 4 and len(workers) == 2  # 2 candidates x 2 folds, both workers
    assert on_dask.best_params_ == default.best_params_
    np.testing.assert_allclose(
        on_dask.cv_results_["mean_test_score"], default.cv_results_["mean_test_score"], atol=1e-6
    )
