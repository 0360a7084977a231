"""The ``hsl`` command line: ``service.cli.main`` builds it from one module per command group.

- :mod:`service.cli.registry`: the :class:`~service.cli.registry.Command` record and
  ``CommandError``;
- :mod:`service.cli.main`: the parser and ``main()`` (the ``hsl`` console script);
- one module per command group: ``log``, ``serve``, ``views`` (project, projections rebuild,
  query, export), ``audit``, ``replay``, ``users``, ``demo``, ``feed`` (feed, subscribe) and
  ``subscribers``; ``log_access`` and ``output`` hold what several of them share.
"""
