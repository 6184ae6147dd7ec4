"""One run at a time in a workdir, and the leftovers of killed runs cleared."""

import contextlib
import errno
import fcntl
import os
import shutil

LOCK_FILE = ".lock"
TMP_PREFIX = ".tmp-"
# not cleared: "features" may be another run's cache; "workers" holds the folders of a
# multi-worker run's other workers (tfcaption.training.distribution), which lock and
# clear their own
SHARED_DIRS = ("features", "workers")


@contextlib.contextmanager
def workdir_lock(workdir):
    """Holds an exclusive lock on ``workdir`` (``workdir/.lock``, released when the
    process ends, however it ends) and removes the temporary files and dirs
    (``.tmp-*``) that killed runs left in it; ``ValueError`` when another process holds
    it."""
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, LOCK_FILE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise ValueError(f"{workdir} is in use by another run (pid {holder}); wait for "
                             f"it or use another --workdir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        remove_leftovers(workdir)
        yield
    finally:
        os.close(fd)  # releases the lock


def remove_leftovers(workdir):
    """Removes ``.tmp-*`` files and dirs in ``workdir`` and its subfolders (not in
    :data:`SHARED_DIRS`); returns their paths."""
    removed = []
    for root, dirs, files in os.walk(workdir):
        if root == workdir:
            dirs[:] = [d for d in dirs if d not in SHARED_DIRS]
        for name in [d for d in dirs if d.startswith(TMP_PREFIX)]:
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
            removed.append(os.path.join(root, name))
            dirs.remove(name)
        for name in files:
            if name.startswith(TMP_PREFIX):
                os.remove(os.path.join(root, name))
                removed.append(os.path.join(root, name))
    return removed
