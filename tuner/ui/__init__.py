"""What the user sees: progress events, reporters, tables and ETA."""
