"""Tests of the VirtualBox backend: parsers, plans, the door, and the backend over a double."""
