"""The sync engine: context documents, the event log's use cases, replay."""
