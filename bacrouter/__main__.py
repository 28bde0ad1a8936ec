"""``python -m bacrouter``, from any directory.

A directory called ``bacrouter`` in the working directory (``/etc`` has one:
the data directory) is on sys.path before the installed package; with an
editable install it wins as a namespace package and nothing imports. Then
the working directory is dropped from the path and the package imported again.
"""

import os
import sys

if getattr(sys.modules.get("bacrouter"), "__file__", None) is None:  # a namespace package: a stray directory
    here = os.getcwd()
    sys.path[:] = [entry for entry in sys.path if entry not in ("", ".", here)]
    for name in [name for name in sys.modules if name == "bacrouter" or name.startswith("bacrouter.")]:
        del sys.modules[name]
    import bacrouter  # noqa: F401  the real package, wherever it is installed

from bacrouter.cli import main

raise SystemExit(main())
