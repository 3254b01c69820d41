"""Builders of test inputs shared by several test modules."""
