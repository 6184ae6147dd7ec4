"""Which Monte-Carlo rollout runs in which lane of the batched rollout loop, and when."""

import numpy as np


def rollout_plan(steps):
    """Packs the rollouts from every prefix of a ``steps``-token caption into lanes.

    The rollout from prefix ``t`` (``1 <= t < steps`` tokens kept) samples the
    ``steps - t`` remaining tokens. Lanes run ``steps`` loop iterations each: lane ``k``
    first completes prefix ``t = k + 1`` (``steps - t`` iterations), then prefix
    ``steps - t`` (``t`` iterations), so two rollouts share a lane and the loop does no
    idle work except for an unpaired middle prefix (``steps`` even).

    Returns a dict of int32 numpy arrays:
      ``first_prefix``, ``second_prefix`` ``[lanes]``: the two prefixes of each lane
        (``second_prefix`` 0 when the lane holds one rollout);
      ``switch``: ``[lanes]``, the iteration at which the lane starts its second rollout
        (``steps`` when there is none);
      ``lane``, ``offset`` ``[steps - 1]``: for prefix ``t`` (row ``t - 1``), its lane and
        the iteration that samples its first token.
    """
    steps = int(steps)
    if steps < 2:
        raise ValueError(f"a rollout needs captions of at least 2 tokens, got {steps}")
    first, second, switch = [], [], []
    lane, offset = np.zeros(steps - 1, np.int32), np.zeros(steps - 1, np.int32)
    for t in range(1, steps // 2 + 1):
        partner = steps - t
        k = len(first)
        first.append(t)
        lane[t - 1], offset[t - 1] = k, 0
        if partner != t:
            second.append(partner)
            switch.append(steps - t)
            lane[partner - 1], offset[partner - 1] = k, steps - t
        else:
            second.append(0)
            switch.append(steps)
    return {"first_prefix": np.array(first, np.int32),
            "second_prefix": np.array(second, np.int32),
            "switch": np.array(switch, np.int32), "lane": lane, "offset": offset}
