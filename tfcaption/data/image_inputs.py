"""Turns command-line image arguments (files, directories, globs) into a list of files.

- a file is taken as given, whatever its extension (a file that is not an image fails
  later, when it is decoded, with an error naming it);
- a directory gives the image files directly inside it (extensions in
  :data:`IMAGE_EXTENSIONS`, any case), sorted by name; with ``recursive=True`` also
  those in its subdirectories (sorted by relative path). Hidden files (``.name``) and
  other files are skipped;
- an argument that is not an existing path but contains ``*``, ``?`` or ``[`` is a glob
  (``**`` matches any depth), expanded in sorted order as a shell would; a directory it
  matches is expanded as above.

An argument that names nothing (a missing path, a glob without matches, a directory
without images) is reported as a problem; files are listed once, in the order of the
arguments.
"""

import glob
import os
from typing import Iterable, List, Tuple

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp")
GLOB_CHARS = "*?["


def is_image_name(name: str) -> bool:
    """True when ``name`` has an image extension (:data:`IMAGE_EXTENSIONS`, any case)."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def images_in_directory(directory: str, recursive: bool = False) -> List[str]:
    """Image files in ``directory`` (sorted; subdirectories too when ``recursive``)."""
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        found += [os.path.join(root, f) for f in files
                  if not f.startswith(".") and is_image_name(f)]
    return sorted(found, key=lambda p: os.path.relpath(p, directory).split(os.sep))


def _expand_one(argument: str, recursive: bool) -> Tuple[List[str], str]:
    """(files, problem or "") for one argument."""
    if os.path.isdir(argument):
        files = images_in_directory(argument, recursive)
        where = "or below it " if recursive else ""
        problem = "" if files else (f"{argument}: directory has no image files "
                                    f"{where}({', '.join(IMAGE_EXTENSIONS)})")
        return files, problem
    if os.path.exists(argument):
        return [argument], ""
    if any(c in argument for c in GLOB_CHARS):
        matches = sorted(glob.glob(argument, recursive=True))
        files = []
        for match in matches:
            files += images_in_directory(match, recursive) if os.path.isdir(match) else [match]
        return files, "" if files else f"{argument}: no image file matches this pattern"
    return [], f"{argument}: no such file or directory"


def expand_image_inputs(arguments: Iterable[str],
                        recursive: bool = False) -> Tuple[List[str], List[str]]:
    """Files named by ``arguments`` (see the module docstring) and the problems found.

    Returns ``(files, problems)``: the files in argument order without repeats, and one
    message per argument that named no file.
    """
    files, problems, seen = [], [], set()
    for argument in arguments:
        found, problem = _expand_one(os.fspath(argument), recursive)
        if problem:
            problems.append(problem)
        for path in found:
            key = os.path.normcase(os.path.abspath(path))
            if key not in seen:
                seen.add(key)
                files.append(path)
    return files, problems
