"""Stand-ins for ``open_webui.utils`` (runs in the sandbox)."""
