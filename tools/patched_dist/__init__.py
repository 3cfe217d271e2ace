"""Build plumbing for pinned third-party packages the build patches."""
