"""Response clocks: when a ticket's response is due, paused and resumed with the ticket."""
