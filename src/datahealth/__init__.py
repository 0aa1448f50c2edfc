"""datahealth: an open platform for Japan's health data (institution surveys, health data exchange)."""

__version__ = "0.1.0"
