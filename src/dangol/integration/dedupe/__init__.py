"""Identity resolution in the product: reading the base into frames for the matching engine,
turning its pairs into reviewable evidence, and the import pipeline's probabilistic matcher.

The state changes (storing candidates, merging, dismissing) are services in
``integration.services``; see docs/adr/0009-dedupe-quality-exports.md.
"""
