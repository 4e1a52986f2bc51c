"""Order of the gallery's examples: from the quick start to blind separation."""

ORDER = (
    "plot_quick_start.py",
    "plot_reconstruction.py",
    "plot_code_activations.py",
    "plot_builtin_model.py",
    "plot_grid_search.py",
    "plot_versus_nmf.py",
    "plot_blind_separation.py",
)


class GalleryOrder:
    """A sphinx-gallery ``within_subsection_order`` key: ``ORDER``, then by file name."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        if filename in ORDER:
            return (ORDER.index(filename), filename)
        return (len(ORDER), filename)
