"""``hsl demo``: a seeded county written to the log through the application's commands.

- ``plan``: the shape of the plan (towns, rooms, topics and their fates) and the story's span;
- ``vocabulary``: the names of places and people, topics, and what is said and written;
- ``county``: builds the county and the plan of every topic, decided from the seed;
- ``timeline``: the story's clock, its seeded ids and the timeline interleaving lifecycles;
- ``stage``, ``rooms``, ``topics``, ``outcomes``: the lifecycles, one module per kind of work;
- ``generator``: ``Demo``, which plays the plan against the application in time order;
- ``report``: the progress bar and the counts read back from the log;

The ``hsl demo`` arguments and handler are :mod:`service.cli.demo`.

Nothing is written around the commands: every event comes from a command, so every rule is
checked as it would be for a clerk.
"""
