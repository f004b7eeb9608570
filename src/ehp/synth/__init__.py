"""A synthetic country: its health care network and its people's lifelong FHIR records.

``ehp synth`` (:mod:`ehp.synth.generator`) writes a generated set, ``ehp load``
(:mod:`ehp.synth.loader`) loads one; docs/architecture.md ("Synthetic country") says what is in it.
"""
