"""The reading order of the gallery (sphinx-gallery sorts by file name otherwise)."""

ORDER = [
    "plot_quickstart.py",
    "plot_missing_predictions.py",
    "plot_leakage_trap.py",
    "plot_convergence.py",
    "plot_estimator_real_data.py",
    "plot_dask.py",
]


class ExampleOrder:
    """Sort key for ``within_subsection_order``: listed examples first, in order."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename: str):
        return (ORDER.index(filename), "") if filename in ORDER else (len(ORDER), filename)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"
