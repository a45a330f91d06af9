"""Evaluation: every model family scored with one per-patient scorer (:func:`gtvlib.metrics.patient_row`, one column
vocabulary) into one result type.

==================  ===============================================================================
``results``         :class:`Evaluation` (masks and scores per patient; a 2-D model's slices and their
                    scores), :class:`ClassifierEvaluation` (a slice gate's decisions), the summaries
``slices``          a 2-D model on cached slices: predict, stitch, score per slice and in 3-D; beside the
                    references that need no training; a slice classifier's recall and precision; each
                    fold run's predictions on held-out patients
``volumes``         whole volumes: any masks scored per patient, a 3-D network by sliding windows, a 2.5-D
                    PET/CT network on every slice
``cascade``         a cascade's gate, fold voting, the largest 3-D components, the gate's slice scores; the
                    cascade table per patient and fold, with mean ± SD over folds
==================  ===============================================================================

The names below are imported on first use, so ``import gtvlib.evaluation`` stays free of torch.
"""

from importlib import import_module

_HOMES = {"Evaluation": "results", "ClassifierEvaluation": "results", "patient_summary": "results",
          "summarise": "results", "unscored": "results",
          "evaluate": "slices", "evaluate_classifier": "slices", "references_beside": "slices",
          "predict_patients": "slices", "stitch": "slices",
          "patient_scores": "volumes", "evaluate_volumes": "volumes", "evaluate_stacks": "volumes",
          "gate": "cascade", "vote": "cascade", "largest_components": "cascade", "slice_scores": "cascade",
          "cascade_table": "cascade", "fold_masks": "slices", "fold_gates": "slices", "decisions_of": "cascade",
          "gated": "cascade", "voted": "cascade", "fold_scores": "cascade", "over_folds": "cascade"}

__all__ = sorted(_HOMES)


def __getattr__(name):
    if name not in _HOMES:
        raise AttributeError(f"module 'gtvlib.evaluation' has no attribute {name!r}")
    return getattr(import_module(f"gtvlib.evaluation.{_HOMES[name]}"), name)
