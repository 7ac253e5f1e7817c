"""Mail: outgoing notifications over SMTP through the outbox, and replies by mail."""
