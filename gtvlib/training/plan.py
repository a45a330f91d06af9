"""A training to run, in one flat vocabulary: :class:`Training` bundles the loop's :class:`FitConfig`, a route over
its data and an objective, and :meth:`Training.of` builds it from settings named as their owners name them, each
sent to the object that uses it (an unknown name is refused with every known one listed)::

    Training.of("patches", volumes, "supervised", loss="dice_bce", model="unet3d", steps_per_epoch=20,
                optimizer="adamw", schedule="cosine", patch=(16, 32, 32))

A chapter's parameters, a sweep's grid point or a fold job are such settings; :meth:`Training.changed` gives the
same training with some of them changed (a fold's data, an ablation's model or loss).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from gtvlib.training.config import FitConfig
from gtvlib.training.objectives import OBJECTIVES
from gtvlib.training.routes import ROUTES
from gtvlib.util.errors import GtvError


def _names(cls) -> set[str]:
    return {f.name for f in fields(cls)} - {"data"}


def _split(settings: dict, route_class, objective_class) -> tuple[dict, dict, dict]:
    fit_names, route_names, objective_names = _names(FitConfig), _names(route_class), _names(objective_class)
    parts = ({}, {}, {})
    for key, value in settings.items():
        owner = 0 if key in fit_names else 1 if key in route_names else 2 if key in objective_names else None
        if owner is None:
            known = sorted(fit_names | route_names | objective_names | {"objective"})
            raise GtvError(f"{key!r} is no setting of the loop (FitConfig), the {route_class.kind} route or the "
                           f"{objective_class.kind} objective; expected one of {known}")
        parts[owner][key] = tuple(value) if key in ("patch", "betas") and isinstance(value, list) else value
    return parts


@dataclass(frozen=True)
class Training:
    """The loop's settings, the route (with its data) and the objective of one run."""

    config: FitConfig
    route: object
    objective: object

    @classmethod
    def of(cls, route: str, data, objective: str = "supervised", **settings) -> "Training":
        """The training of ``route`` (``slices``, ``patches`` or ``stacks``) over ``data`` with ``objective``
        (``supervised``, ``adversarial`` or ``classification``); ``settings``: fields of :class:`FitConfig`, of the
        route and of the objective."""
        if route not in ROUTES:
            raise GtvError(f"route {route!r}; expected one of {sorted(ROUTES)}")
        if objective not in OBJECTIVES:
            raise GtvError(f"objective {objective!r}; expected one of {sorted(OBJECTIVES)}")
        fit, route_options, objective_options = _split(settings, ROUTES[route], OBJECTIVES[objective])
        return cls(FitConfig(**fit), ROUTES[route](data, **route_options), OBJECTIVES[objective](**objective_options))

    def changed(self, **changes) -> "Training":
        """The same training with ``changes`` (settings as :meth:`of` takes them; ``data``: other data, e.g. a fold;
        ``objective``: another kind, keeping the settings the two kinds share)."""
        data = changes.pop("data", self.route.data)
        kind = changes.pop("objective", self.objective.kind)
        objective_class = OBJECTIVES.get(kind)
        if objective_class is None:
            raise GtvError(f"objective {kind!r}; expected one of {sorted(OBJECTIVES)}")
        fit, route_options, objective_options = _split(changes, type(self.route), objective_class)
        if kind == self.objective.kind:
            objective = replace(self.objective, **objective_options)
        else:
            kept = {name: getattr(self.objective, name) for name in _names(objective_class) & _names(type(self.objective))}
            objective = objective_class(**{**kept, **objective_options})
        return Training(replace(self.config, **fit), replace(self.route, data=data, **route_options), objective)

    def run_for(self, root=None):
        """The run record of this training under ``root`` (:func:`gtvlib.training.loop.run_for`)."""
        from gtvlib.training.loop import run_for

        return run_for(self.config, self.route, self.objective, root)

    def fit(self, run=None):
        """Train it (:func:`gtvlib.training.loop.fit`); the run record."""
        from gtvlib.training.loop import fit

        return fit(self.config, self.route, self.objective, run)

    def cost(self) -> int:
        """Training items × epochs: the order in which a pool takes jobs (longest first)."""
        return self.route.items(self.config) * self.config.epochs
