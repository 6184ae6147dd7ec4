"""Reference captions for ``shapes`` images, from varied templates.

Every template names each object's colour and shape (size and position are
optional), so every reference is fully correct under the shapes scorer.
"""

from typing import List

import numpy as np

_POSITIONS = {
    ("left", "top"): "in the top left", ("centre", "top"): "at the top",
    ("right", "top"): "in the top right", ("left", "middle"): "on the left",
    ("centre", "middle"): "in the centre", ("right", "middle"): "on the right",
    ("left", "bottom"): "in the bottom left", ("centre", "bottom"): "at the bottom",
    ("right", "bottom"): "in the bottom right",
}
_COL = {"left": 0, "centre": 1, "right": 2}
_ROW = {"top": 0, "middle": 1, "bottom": 2}


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def describe(obj: dict, with_size: bool) -> str:
    words = ([obj["size"]] if with_size else []) + [obj["colour"], obj["shape"]]
    return f"{article(words[0])} {' '.join(words)}"


def position(obj: dict) -> str:
    return _POSITIONS[(obj["position"]["col"], obj["position"]["row"])]


def relation(a: dict, b: dict) -> str:
    """Spatial relation of ``a`` with respect to ``b``."""
    dc = _COL[a["position"]["col"]] - _COL[b["position"]["col"]]
    dr = _ROW[a["position"]["row"]] - _ROW[b["position"]["row"]]
    if dc != 0 and abs(dc) >= abs(dr):
        return "to the left of" if dc < 0 else "to the right of"
    return "above" if dr < 0 else "below"


def _listing(parts: List[str]) -> str:
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _templates(objs: List[dict], rng: np.random.Generator, background: str) -> List[str]:
    sz = [describe(o, True) for o in objs]
    plain = [describe(o, False) for o in objs]
    n = len(objs)
    if n == 1:
        o = objs[0]
        return [
            sz[0], f"{plain[0]} {position(o)}", f"a picture of {sz[0]} {position(o)}",
            f"a single {o['size']} {o['colour']} {o['shape']}", plain[0],
            f"there is {plain[0]} on a {background} background",
            f"an image showing {sz[0]} {position(o)}", f"one {o['colour']} {o['shape']}",
        ]
    number = {2: "two", 3: "three"}[n]
    order = rng.permutation(n)
    shuffled = [plain[i] for i in order]
    caps = [
        _listing(sz), _listing(shuffled), f"{number} shapes: {_listing(plain)}",
        f"an image with {_listing(sz)}",
        _listing([f"{sz[i]} {position(objs[i])}" for i in range(n)]),
        f"{number} objects, {_listing(shuffled)}",
    ]
    a, b = int(order[0]), int(order[1])
    rel = f"{sz[a]} {relation(objs[a], objs[b])} {sz[b]}"
    rel_plain = f"{plain[b]} {relation(objs[b], objs[a])} {plain[a]}"
    if n == 2:
        caps += [rel, rel_plain]
    else:
        c = int(order[2])
        caps += [f"{rel}, and {sz[c]} {position(objs[c])}",
                 f"{rel_plain} and {plain[c]} {position(objs[c])}"]
    return caps


def make_captions(objects: List[dict], rng: np.random.Generator, background: str,
                  k: int = 5) -> List[str]:
    """Returns ``k`` distinct reference captions for the objects on a ``background``
    ("plain" or "textured")."""
    pool = list(dict.fromkeys(_templates(objects, rng, background)))
    picks = rng.choice(len(pool), size=min(k, len(pool)), replace=False)
    return [pool[int(i)] for i in picks]
