"""The `readmodel` command line."""
