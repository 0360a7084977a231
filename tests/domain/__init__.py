"""Unit tests of the domain: events, codec, mapper, aggregates, rules, application."""
