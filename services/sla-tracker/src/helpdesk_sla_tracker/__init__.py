"""SLA tracker: levels, business-hours calendars, response clocks, warnings and breaches."""
