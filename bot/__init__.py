"""The application edge: settings, CLI, channels and rendering; the composition root."""
