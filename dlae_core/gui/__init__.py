"""``dlae gui``: a local web page to build, check and run experiments (see docs/GUI.md).

The page's forms are generated from the config schema and the live registry (:mod:`.describe`),
configs are checked with the CLI's own parser, planner and inspection (:mod:`.editing`), and runs
are ``dlae run`` processes of their own (:mod:`.runs`, :mod:`.runner`). The server
(:mod:`.server`, Flask) is an optional extra: ``pip install 'dlae[gui]'``. Nothing here imports a
framework; backends are reached through the registry and CLI subprocesses only.
"""
