"""README sections and the commands of their ``bash`` blocks (test helper)."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme_text():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        return f.read()


def readme_section(title):
    """The text of the README section ``## title`` (up to the next ``## ``)."""
    return re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", readme_text(),
                     flags=re.S | re.M).group(1)


def section_commands(title):
    """Every non-empty line of the ``bash`` blocks of section ``title``."""
    return [line for block in re.findall(r"```bash\n(.*?)```", readme_section(title),
                                         flags=re.S)
            for line in block.splitlines() if line.strip()]


def section_command(title, word):
    """The one command of section ``title`` that contains ``word``."""
    found, = [c for c in section_commands(title) if word in c]
    return found


def smoke_recipe(cmd, smoke_flags):
    """``cmd`` as written when TFCAPTION_FULL_RECIPES=1, else with the smoke flags of every
    key of ``smoke_flags`` it contains appended (later flags win)."""
    if os.environ.get("TFCAPTION_FULL_RECIPES") == "1":
        return cmd
    return cmd + "".join(flags for key, flags in smoke_flags.items() if key in cmd)
