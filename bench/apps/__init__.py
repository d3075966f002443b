"""Servers and applications under test. Each module here is started as its own process."""
