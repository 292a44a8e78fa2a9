"""Access: one decide() for every action. See docs/architecture.md."""
