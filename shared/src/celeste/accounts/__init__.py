"""Customers: profiles and roles, tiers and how a customer earns one."""
