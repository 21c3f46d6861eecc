"""Business-hours calendars: the pure arithmetic and the holiday import."""
