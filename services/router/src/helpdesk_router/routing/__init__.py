"""Who gets a ticket: the choice (choice.py, no I/O), policies and profiles (admin API)."""
