"""The log: event schemas and the eventsourcing persistence module on NATS JetStream."""
