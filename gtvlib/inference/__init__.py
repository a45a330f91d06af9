"""Inference: a trained model on new images, whatever route it was trained on.

==================  ===============================================================================
``prompted``        SAM-Med2D prompted by hand: a box, a click, corrective clicks; how each compares with
                    the ground-truth box (:func:`prompt_comparison`)
``inferers``        one inferer per training route, named by the run's record: slices (the model grid laid
                    on the scan, :mod:`gtvlib.segment.grid`), patches (the scan windowed and resampled as in
                    training, sliding windows within the body's box, the logits mapped back), PET/CT stacks
                    (the PET put on the CT's grid, every slice within the body's box):
                    :func:`~gtvlib.inference.inferers.inferer_for`
==================  ===============================================================================
"""

from gtvlib.inference.prompted import prompt_comparison, refine_with_clicks, segment, segment_from_click

__all__ = ["prompt_comparison", "refine_with_clicks", "segment", "segment_from_click"]
