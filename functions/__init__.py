"""Lambda handlers: thin adapters that build the app once per container and call one service."""
