"""scikit-learn's estimator checks over every public estimator of skaesep."""

import inspect

import pytest
from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import (
    check_param_validation,
    check_set_output_transform,
    parametrize_with_checks,
)

import skaesep


def _checking_instance(cls):
    """A default instance, made cheaper where the defaults are costly to fit.

    Like scikit-learn's own ``_set_checking_parameters``: the separator's
    default pipeline is the report's 7995-input network; the checks get a
    smaller one of the same kind.
    """
    if cls is skaesep.MaskResynthesizer:
        return cls(skaesep.make_separation_pipeline(layer_sizes=(32, 16), n_frames=3, max_iter=5))
    return cls()


def _public_estimators():
    """Every estimator class exported by ``skaesep``, discovered, not listed."""
    classes = [
        obj
        for name in skaesep.__all__
        if inspect.isclass(obj := getattr(skaesep, name)) and issubclass(obj, BaseEstimator)
    ]
    return [_checking_instance(cls) for cls in sorted(classes, key=lambda c: c.__name__)]


ESTIMATORS = _public_estimators()


def test_all_four_estimators_discovered():
    names = {type(est).__name__ for est in ESTIMATORS}
    assert names == {
        "CodeLayerClusterer",
        "MaskResynthesizer",
        "SpectrogramTransformer",
        "StackedRBMAutoencoder",
    }


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda est: type(est).__name__)
def test_param_validation(estimator):
    check_param_validation(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda est: type(est).__name__)
def test_set_output_transform(estimator):
    check_set_output_transform(type(estimator).__name__, estimator)
