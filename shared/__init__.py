"""What both sides of the read model share: the event contract, the keyspace, settings."""
