"""Running and building the book: ``python -m gtvlib.book run --profile quick`` then ``build``.

See :mod:`gtvlib.book.runner` (papermill execution, provenance) and :mod:`gtvlib.book.build`
(staging and Jupyter Book).
"""
