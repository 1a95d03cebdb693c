"""Views of the web store: thin, they call services and selectors and render templates."""
