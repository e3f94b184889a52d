"""Presentation: Rich renderers that take a Console, and the Click CLI."""
