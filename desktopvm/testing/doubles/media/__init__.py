"""Install discs made with xorriso, carrying real releases' identifiers."""
