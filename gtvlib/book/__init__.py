"""Running and building the book: ``python -m gtvlib.book run --profile quick`` then ``build``.

See :mod:`gtvlib.book.runner` (papermill execution, the run manifest, whether a run can be reused),
:mod:`gtvlib.book.claims` (each chapter's headline numbers and the claims its text makes, checked on every run),
:mod:`gtvlib.book.build` (staging and Jupyter Book), :mod:`gtvlib.book.profiles` (parameters),
:mod:`gtvlib.book.project` (the table of contents) and :mod:`gtvlib.book.provenance` (what produced a run).
"""
