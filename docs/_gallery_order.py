"""Order of the gallery's examples: the quick start first, then by file name."""

FIRST = ("plot_quick_start.py",)


class QuickStartFirst:
    """A sphinx-gallery ``within_subsection_order`` key."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        return (filename not in FIRST, filename)
