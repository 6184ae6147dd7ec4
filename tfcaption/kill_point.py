"""Named points where a run can be killed on purpose, to test that no work is lost.

With ``TFCAPTION_KILL_AT=<name>`` in the environment, the process sends itself
``SIGKILL`` (no clean-up, no ``finally``, as the OOM killer or a preempted machine would)
when it reaches the point of that name; without it a point costs one dictionary lookup.
``TFCAPTION_KILL_AT=epoch_end:0`` kills after the first epoch's backup is written. The
points of ``tfcaption.train``, in order:

=====================  ===========================================================
``features_cached``    the feature cache of every split is complete
``batch_end:E:B``      batch ``B`` of epoch ``E`` is done (mid-epoch)
``epoch_end:E``        epoch ``E`` is done and backed up
``fit_returned``       ``fit`` returned; its final weights and marker not yet written
``model_dir_written``  a model dir is complete under its temporary name, not renamed
``evaluating``         the model dir exists; the test-split evaluation starts
``reports_written``    predictions and report written; ``metrics.json`` not yet
=====================  ===========================================================
"""

import os
import signal

ENV = "TFCAPTION_KILL_AT"


def kill_point(name):
    """SIGKILLs this process when ``TFCAPTION_KILL_AT`` equals ``name``."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
