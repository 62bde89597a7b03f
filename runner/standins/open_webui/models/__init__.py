"""Stand-ins for ``open_webui.models`` (runs in the sandbox)."""
