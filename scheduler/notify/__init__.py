"""The outbox of notices to residents and the senders that deliver them."""
