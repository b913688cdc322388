"""Maintainer tools: spec drift and import, response schemas, the stub and types generators.

Nothing at runtime imports this package.
"""
