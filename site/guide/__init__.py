"""The service guide: content schema, loader and page rendering."""
