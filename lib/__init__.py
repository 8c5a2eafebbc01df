"""Shared pieces: ClassAds, crypto, the pool layer, descript files, downtimes, logging."""
