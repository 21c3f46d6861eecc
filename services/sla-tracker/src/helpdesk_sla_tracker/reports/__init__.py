"""The compliance report and the SLA log, computed in SQL, as JSON or CSV."""
