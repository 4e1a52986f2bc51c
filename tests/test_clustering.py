import numpy as np
import pytest

from skaesep import CodeLayerClusterer


def _codes(seed=0, n_units=12, n_blocks=1):
    """Codes whose units 0-5 fire with instrument 'a' and 6-11 with 'b'."""
    rng = np.random.default_rng(seed)
    y = np.repeat(["a", "b"], 60)
    codes = rng.random((120, n_blocks, n_units)) * 0.2
    codes[:60, :, : n_units // 2] += 0.7
    codes[60:, :, n_units // 2 :] += 0.7
    return codes.reshape(120, -1), y


def test_identified_mode_names_sources_and_assigns_units():
    codes, y = _codes()
    cl = CodeLayerClusterer(random_state=0).fit(codes, y)
    assert list(cl.classes_) == ["a", "b"]
    np.testing.assert_array_equal(cl.responsibilities_.argmax(axis=1), [0] * 6 + [1] * 6)
    np.testing.assert_allclose(cl.responsibilities_.sum(axis=1), 1.0)


def test_blind_mode_groups_co_active_units():
    codes, _ = _codes()
    cl = CodeLayerClusterer(n_sources=2, random_state=0).fit(codes)
    labels = cl.responsibilities_.argmax(axis=1)
    assert len(set(labels[:6])) == 1 and len(set(labels[6:])) == 1
    assert labels[0] != labels[-1]


def test_units_are_shared_across_blocks():
    codes, y = _codes(n_blocks=3)
    cl = CodeLayerClusterer(n_units=12, random_state=0).fit(codes, y)
    assert cl.responsibilities_.shape == (12, 2)
    masked = cl.transform(codes)
    assert masked.shape == (120, 2 * 36)
    np.testing.assert_allclose(masked.reshape(120, 2, 36).sum(axis=1), codes, rtol=1e-6)


def test_errors_name_the_problem():
    codes, y = _codes()
    with pytest.raises(ValueError, match="n_sources=3 but y names 2 instruments"):
        CodeLayerClusterer(n_sources=3).fit(codes, y)
    with pytest.raises(ValueError, match="not a multiple of n_units=5"):
        CodeLayerClusterer(n_units=5).fit(codes)
    with pytest.raises(ValueError, match="1 feature\\(s\\)"):
        CodeLayerClusterer(n_sources=2).fit(codes[:, :1])
    with pytest.raises(ValueError, match="labels for 120 rows"):
        CodeLayerClusterer().fit(codes, y[:5])
