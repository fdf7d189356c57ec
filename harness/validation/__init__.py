"""The work order's validation (its section 9): demonstrations and their written proof, not the product.

Imported only by the commands that run them (`python -m harness validate`, `nox -s validate*`):
`python -m harness run` never loads this package.
"""
