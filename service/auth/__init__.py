"""Who may do what: people with bearer tokens, their roles and scopes, and the policy table.

- :mod:`service.auth.users`: the people and their hashed tokens, in ``$HSL_DATA_DIR/users.json``;
- :mod:`service.auth.policy`: the role × command table and the check every write goes through.

``hsl users add|list|revoke`` is :mod:`service.cli.users`.
"""
