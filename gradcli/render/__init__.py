"""Renderers: each takes a result model and returns text or a Rich renderable. None prints."""
