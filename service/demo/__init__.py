"""``hsl demo``: a seeded county written to the log through the application's commands.

- ``county``: the county model and the plan of every topic, decided from the seed;
- ``generator``: plays the plan against the application in simulated time order;
- ``report``: the progress bar and the counts read back from the log.

The ``hsl demo`` arguments and handler are :mod:`service.cli.demo`.

Nothing is written around the commands: every event comes from a command, so every rule is
checked as it would be for a clerk.
"""
