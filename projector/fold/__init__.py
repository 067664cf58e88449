"""The pure fold: events into stream states, and stream states into read-model records."""
