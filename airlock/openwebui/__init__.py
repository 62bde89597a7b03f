"""Open WebUI as an Airlock host: the bridge functions it runs, and its REST API."""
