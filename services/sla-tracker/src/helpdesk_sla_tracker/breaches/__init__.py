"""Warnings and breaches: the scan that fires them, once per clock."""
