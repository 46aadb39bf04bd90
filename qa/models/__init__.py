"""Models: embedders and answer generators with their backends, and where their files come from.

Each backend loads lazily; importing this package loads no model and no ML framework.
"""
