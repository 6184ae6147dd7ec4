"""Checks of the ``predictions`` / ``references`` mappings every metric takes.

``predictions`` maps an image id to one generated caption; ``references`` maps the
same ids to a non-empty list of reference captions. Errors name the offending ids.
"""

from typing import Iterable, Mapping

MAX_NAMED = 5


def name_ids(ids: Iterable) -> str:
    """``"'a', 'b' and 3 more"``: a short listing of ids for error messages."""
    ids = list(ids)
    shown = ", ".join(repr(i) for i in ids[:MAX_NAMED])
    more = len(ids) - MAX_NAMED
    return shown + (f" and {more} more" if more > 0 else "")


def _check_id(image_id, what):
    if isinstance(image_id, bool) or not isinstance(image_id, (str, int)):
        raise TypeError(f"{what}: image id {image_id!r} is a {type(image_id).__name__}; "
                        f"ids must be str or int")


def check_predictions(predictions: Mapping) -> None:
    """``predictions`` is a non-empty mapping of str/int ids to strings."""
    if not isinstance(predictions, Mapping):
        raise TypeError(f"predictions must be a mapping image_id -> caption, got "
                        f"{type(predictions).__name__}")
    if not predictions:
        raise ValueError("predictions is empty: nothing to evaluate")
    for image_id, caption in predictions.items():
        _check_id(image_id, "predictions")
        if not isinstance(caption, str):
            raise TypeError(f"predictions[{image_id!r}] is a {type(caption).__name__} "
                            f"({caption!r}), not a string")


def check_references(references: Mapping, ids: Iterable) -> None:
    """``references`` has exactly ``ids``, each with a non-empty list of strings."""
    if not isinstance(references, Mapping):
        raise TypeError(f"references must be a mapping image_id -> list of captions, got "
                        f"{type(references).__name__}")
    ids = list(ids)
    wanted = set(ids)
    missing = [i for i in ids if i not in references]
    if missing:
        raise ValueError(f"{len(missing)} predicted image id(s) have no references: "
                         f"{name_ids(missing)}")
    extra = [i for i in references if i not in wanted]
    if extra:
        raise ValueError(f"{len(extra)} image id(s) in references have no prediction: "
                         f"{name_ids(extra)}")
    for image_id in ids:
        refs = references[image_id]
        if isinstance(refs, str) or not isinstance(refs, (list, tuple)):
            raise TypeError(f"references[{image_id!r}] is a {type(refs).__name__}, not a "
                            f"list of captions")
        if not refs:
            raise ValueError(f"references[{image_id!r}] is an empty list: every image needs "
                             f"at least one reference caption")
        for k, ref in enumerate(refs):
            if not isinstance(ref, str):
                raise TypeError(f"references[{image_id!r}][{k}] is a {type(ref).__name__} "
                                f"({ref!r}), not a string")


def check_caption_inputs(predictions: Mapping, references: Mapping) -> None:
    """Both checks: predictions first, then references against the predicted ids."""
    check_predictions(predictions)
    check_references(references, predictions.keys())
