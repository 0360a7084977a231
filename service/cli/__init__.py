"""The ``hsl`` command line: ``service.cli.main`` builds it from one module per command group.

Its subcommands are ``Subcommand`` records (a "command" is the application's: a method of
``HaoshangliangApplication``, ``service.commands``, run by an HTTP command route).

- :mod:`service.cli.registry`: the :class:`~service.cli.registry.Subcommand` record and
  ``SubcommandError``;
- :mod:`service.cli.main`: the parser and ``main()`` (the ``hsl`` console script);
- one module per subcommand group: ``log``, ``serve``, ``projections`` (project, projections
  rebuild, query, export: the DuckDB views), ``audit``, ``replay``, ``users``, ``demo``,
  ``feed`` (feed, subscribe) and ``subscribers``; ``log_access`` and ``output`` hold what
  several of them share.
"""
