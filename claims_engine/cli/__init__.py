"""The ``claims-engine`` command line, an edge layer: files, the terminal, the clock and the exit
codes live here. :mod:`.main` parses the arguments and dispatches to the command modules
(``*_commands``); :mod:`.demo` and :mod:`.demo_api` are ``claims-engine demo``.
"""
