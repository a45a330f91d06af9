"""Shared utilities that every stage uses and that use no stage: nothing here imports data, models or the book.

==================  ===============================================================================
``errors``          :class:`GtvError`, the one project exception: the file or value, the problem, what was expected
``atomic``          writes that are whole or absent (write to a temporary name, then rename)
``checksums``       SHA-256 of files and settings (a run's key), SHA256SUMS files
``paths``           where caches, runs and data live (``$GTVLIB_CACHE``, ``$GTVLIB_RUNS``, ``$GTVLIB_DATA``)
``progress``        progress bars, silent in batch runs
``parallel``        process pools: forked workers and spawned trainers, threads per worker
``yamlfile``        YAML read with errors that name the file
``device``          CUDA, then MPS, then CPU; bf16 autocast; DistributedDataParallel set-up
``components``      connected components: the largest ones, and those that hold a seed (a click, a GTV)
==================  ===============================================================================
"""
