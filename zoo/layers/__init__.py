"""Building blocks with torch.nn-compatible signatures."""
