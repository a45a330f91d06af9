"""gtvlib: the library behind gtv-book.

Automatic segmentation of the lung-cancer gross tumour volume (GTV) on CT for radiotherapy
planning: DICOM handling, models, training loops, metrics, statistics, and the book runner.
Importing gtvlib is cheap and never imports torch or torchvision.
"""

from gtvlib.errors import GtvError

__version__ = "0.1.0"

__all__ = ["GtvError", "__version__"]
