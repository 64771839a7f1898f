"""Developer tools that run the whole system: not part of the installed package."""
