"""Small shared pieces: user-facing errors, atomic file output, progress, command-line mains."""
