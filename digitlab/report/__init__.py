"""Every figure and every table, drawn once."""
