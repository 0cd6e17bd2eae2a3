"""Decoding of sampled packet headers."""
