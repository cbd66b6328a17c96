"""Test doubles that stand in for what a test cannot or need not run."""
