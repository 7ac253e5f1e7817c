"""Webhooks: DevRev's ``webhooks.*`` subscriptions, its event shapes and
``verify`` handshake, signed deliveries through the outbox, and the
delivery log admins read (``webhooks.deliveries.list``)."""
