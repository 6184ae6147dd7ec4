"""Whether pycocoevalcap's SPICE can run here, without triggering its download.

pycocoevalcap's ``Spice()`` constructor calls ``get_stanford_models()``, which downloads
Stanford CoreNLP 3.6.0 (a ~400 MB zip from nlp.stanford.edu) whenever
``spice/lib/stanford-corenlp-3.6.0.jar`` is missing. SPICE then runs
``java -jar -Xmx8G spice-1.0.jar`` in the ``spice/`` folder, whose manifest
``Class-Path`` names every jar it loads (relative to that folder), among them
``lib/stanford-corenlp-3.6.0.jar`` and ``lib/stanford-corenlp-3.6.0-models.jar``,
the two the download provides. SPICE is available when ``java`` is on PATH, the
``spice/`` folder is writable (SPICE writes ``tmp/`` and ``cache/`` there) and every
file of that class path exists.
"""

import os
import shutil
import zipfile
from typing import List, Optional

SPICE_JAR = "spice-1.0.jar"
# What pycocoevalcap's get_stanford_models() installs (used when the manifest is unreadable).
CORENLP_JARS = ("lib/stanford-corenlp-3.6.0.jar", "lib/stanford-corenlp-3.6.0-models.jar")


def default_spice_dir() -> str:
    """The ``pycocoevalcap/spice`` folder of the installed package."""
    from pycocoevalcap.spice import spice

    return os.path.dirname(os.path.abspath(spice.__file__))


def manifest_class_path(jar_path: str) -> List[str]:
    """The ``Class-Path`` entries of a jar's ``META-INF/MANIFEST.MF`` (may be empty)."""
    with zipfile.ZipFile(jar_path) as jar:
        text = jar.read("META-INF/MANIFEST.MF").decode("utf-8")
    # Manifest lines are wrapped at 72 bytes: a continuation line starts with one space.
    text = text.replace("\r\n", "\n").replace("\n ", "")
    for line in text.split("\n"):
        if line.lower().startswith("class-path:"):
            return line.split(":", 1)[1].split()
    return []


def required_spice_files(spice_dir: Optional[str] = None) -> List[str]:
    """Absolute paths of the files SPICE needs: its jar and its manifest class path
    (the CoreNLP jars if the jar is missing or its manifest is unreadable)."""
    spice_dir = os.path.abspath(spice_dir or default_spice_dir())
    jar = os.path.join(spice_dir, SPICE_JAR)
    try:
        entries = manifest_class_path(jar)
    except (OSError, KeyError, zipfile.BadZipFile, UnicodeDecodeError):
        entries = []
    names = list(dict.fromkeys(list(CORENLP_JARS) + entries))
    return [jar] + [os.path.join(spice_dir, *n.split("/")) for n in names]


def spice_unavailable_reason(spice_dir: Optional[str] = None) -> Optional[str]:
    """None when SPICE can run, else why not (naming the missing files)."""
    spice_dir = os.path.abspath(spice_dir or default_spice_dir())
    if shutil.which("java") is None:
        return "Java is not on PATH (SPICE runs spice-1.0.jar)"
    missing = [p for p in required_spice_files(spice_dir) if not os.path.isfile(p)]
    if missing:
        return (f"missing {', '.join(missing)}: SPICE needs the Stanford CoreNLP 3.6.0 jars "
                f"(stanford-corenlp-3.6.0.jar and stanford-corenlp-3.6.0-models.jar from "
                f"stanford-corenlp-full-2015-12-09.zip) in {os.path.join(spice_dir, 'lib')}; "
                f"pycocoevalcap would download them on first use; tfcaption never starts "
                f"that download")
    if not os.access(spice_dir, os.W_OK):
        return f"{spice_dir} is not writable (SPICE writes its tmp/ and cache/ folders there)"
    return None
